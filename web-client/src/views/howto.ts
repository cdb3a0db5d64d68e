// "How to play": a short illustrated rules page that follows the room's actual house rules.
import { h } from "../dom";
import type { VNode } from "../dom";
import { t } from "../i18n";
import type { GameConfig } from "../protocol/generated";
import { dieSvg } from "./parts";

export function howToView(rules: GameConfig, close: () => void, inRoom: boolean): VNode {
  const items: VNode[] = [
    h("li", { key: "aim" }, t("how.aim")),
    h("li", { key: "roll" }, t("how.roll", { count: rules.starting_dice })),
    h("li", { key: "bid" }, t("how.bid")),
    h("li", { key: "raise" }, t(`how.raise.${rules.raise_rule}`)),
    h("li", { key: "aces" }, rules.aces_wild
      ? t(rules.wild_scope === "BidderOnly" ? "how.acesBidder" : "how.acesWild") + " " + t(`how.conversion.${rules.ace_conversion}`)
      : t("how.acesPlain")),
    h("li", { key: "dudo" }, t(rules.dudo_caller === "Anyone" ? "how.dudoAnyone" : "how.dudo")),
  ];
  if (rules.calza_enabled) items.push(h("li", { key: "calza" }, t("how.calza"), " ", t(`how.calzaSuccess.${rules.calza_success}`)));
  if (rules.palifico_enabled) {
    items.push(h("li", { key: "palifico" }, t(rules.palifico_trigger === "Declared" ? "how.palificoDeclared" : "how.palifico"), " ",
      t(rules.palifico_face_locked ? "how.palificoLocked" : "how.palificoFree")));
  }
  if (rules.turn_time_limit_secs !== null) items.push(h("li", { key: "clock" }, t("how.clock", { count: rules.turn_time_limit_secs })));
  return h("section", { class: "card howto", testid: "how-to-play", "aria-labelledby": "how-title", role: "region" },
    h("div", { class: "howto-head" },
      h("h2", { id: "how-title", tabindex: -1 }, t("how.title")),
      h("button", { type: "button", testid: "how-close", onclick: close }, t("how.close"))),
    h("p", { class: "muted" }, inRoom ? t("how.thisRoom") : t("how.defaults")),
    h("ol", { class: "how-list" }, items),
    h("figure", { class: "how-example" },
      h("div", { class: "dice", role: "group", "aria-label": t("how.exampleLabel") },
        [5, 1, 3, 5, 6].map((f, i) => h("span", {
          key: i, class: `die${f === 1 ? " ace" : ""}${f === 5 || (f === 1 && rules.aces_wild) ? " match" : ""}`, "aria-hidden": "true",
        }, dieSvg(f)))),
      h("figcaption", null, t(rules.aces_wild ? "how.exampleWild" : "how.examplePlain"))));
}
