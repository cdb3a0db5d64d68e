// Every text on screen comes from a message catalogue (en, es). `t(key, params)` fills
// `{name}` placeholders; a `count` param picks the plural form with Intl.PluralRules
// (`key_one`, `key_other`, ... falling back to `key_other`).
import { en } from "./en";
import type { Catalogue } from "./en";
import { es } from "./es";

export type Lang = "en" | "es";
export const LANGS: readonly Lang[] = ["en", "es"];
export const CATALOGUES: Record<Lang, Catalogue> = { en, es };
export const LANG_KEY = "perudo:lang";

let lang: Lang = "en";
let plural = new Intl.PluralRules("en");

/** The browser's language when we have it, else English. */
export function detectLang(stored: string | null, languages: readonly string[]): Lang {
  if (stored === "en" || stored === "es") return stored;
  for (const l of languages) {
    const base = l.toLowerCase().split("-")[0];
    if (base === "es" || base === "en") return base;
  }
  return "en";
}

export function setLang(next: Lang): void {
  lang = next;
  plural = new Intl.PluralRules(next);
  if (typeof document !== "undefined") document.documentElement.lang = next;
}

export function getLang(): Lang {
  return lang;
}

export type Params = Record<string, string | number>;

/** The message `key` in the current language with `params` filled in. */
/** First strong isolate and pop directional isolate (Unicode bidi). */
const FSI = "\u2068";
const PDI = "\u2069";

/**
 * A parameter as it goes into a sentence. A player's name is isolated (FSI ... PDI), so a
 * right-to-left or mixed-direction name cannot reorder the words around it.
 */
function param(name: string, value: unknown): string {
  return name === "name" ? `${FSI}${String(value)}${PDI}` : String(value);
}

export function t(key: string, params?: Params): string {
  const cat = CATALOGUES[lang] as Record<string, string>;
  let text: string | undefined;
  const count = params?.count;
  if (typeof count === "number") {
    text = cat[`${key}_${plural.select(count)}`] ?? cat[`${key}_other`];
  }
  text ??= cat[key] ?? (en as Record<string, string>)[key] ?? key;
  return params ? text.replace(/\{(\w+)\}/g, (m, p: string) => (p in params ? param(p, params[p]) : m)) : text;
}

/** "3 × fours" / "3 × cuatros": the quantity and the face's word in the right number. */
export function bidText(quantity: number, face: number): string {
  return t("bid.text", { quantity, face: faceWord(face, quantity) });
}

export function faceWord(face: number, count: number): string {
  return t(`face.${face}`, { count });
}

/** Like `t`, but placeholders may be anything (e.g. an element): returns the pieces in order. */
export function tParts<T>(key: string, parts: Record<string, T>, params?: Params): Array<string | T> {
  const text = t(key, params);
  const out: Array<string | T> = [];
  let last = 0;
  for (const m of text.matchAll(/\{(\w+)\}/g)) {
    const p = m[1]!;
    if (!(p in parts)) continue;
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(parts[p]!);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
