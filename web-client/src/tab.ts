// The tab's title and favicon: in a background (hidden) tab they say it is your turn; a
// visible tab shows the plain title (the table itself says whose turn it is).
import { t } from "./i18n";

export const ICON = "/favicon.svg";
export const ICON_TURN = "/favicon-turn.svg";

export function tabSignal(myTurn: boolean, hidden: boolean, base: string): { title: string; icon: string } {
  return myTurn && hidden ? { title: `▶ ${t("title.yourTurn")} · ${base}`, icon: ICON_TURN } : { title: base, icon: ICON };
}
