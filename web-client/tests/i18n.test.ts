import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CATALOGUES, LANGS, bidText, detectLang, setLang, t } from "../src/i18n";
import { en } from "../src/i18n/en";
import { es } from "../src/i18n/es";
import { RULE_GROUPS, PRESETS } from "../src/rules";

afterEach(() => setLang("en"));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") && !p.includes("i18n") ? [p] : [];
  });
}

/** Every key the code can ask for: literal keys in the sources plus the built ones. */
function usedKeys(): string[] {
  const keys = new Set<string>();
  const src = join(__dirname, "..", "src");
  const namespaces = Object.keys(en).map((k) => k.split(".")[0]).filter((v, i, a) => a.indexOf(v) === i);
  const literal = new RegExp(`"((?:${namespaces.join("|")})\\.[A-Za-z0-9_.]+)"`, "g");
  for (const file of sources(src)) {
    for (const m of readFileSync(file, "utf8").matchAll(literal)) keys.add(m[1]!);
  }
  for (const g of RULE_GROUPS) {
    keys.add(`rules.group.${g.id}`);
    for (const f of g.fields) {
      keys.add(`rules.${f.key}`);
      keys.add(`rules.${f.key}.help`);
      if (f.kind === "enum") for (const o of f.options) keys.add(`rules.${f.key}.${o}`);
    }
  }
  for (const p of PRESETS) { keys.add(`preset.${p.id}`); keys.add(`preset.${p.id}.help`); }
  for (const c of ["connected", "connecting", "reconnecting", "offline"]) keys.add(`conn.${c}`);
  for (const e of ["ThumbsUp", "Laugh", "Wow", "Thinking", "Sweat", "Clap", "Fire", "Liar"]) keys.add(`emote.${e}`);
  for (const l of ["Easy", "Normal", "Hard"]) keys.add(`bot.${l}`);
  for (const s of ["connected", "away", "bot"]) keys.add(`status.${s}`);
  for (const r of ["Standard", "FaceNonDecreasing", "FaceFirst"]) keys.add(`how.raise.${r}`);
  for (const c of ["HalfUpDoublePlusOne", "DoubleValue"]) keys.add(`how.conversion.${c}`);
  for (const c of ["CallerGainsDie", "BidderLosesDie", "OthersLoseDie", "CallerGainsOthersLose"]) keys.add(`how.calzaSuccess.${c}`);
  return [...keys];
}

/** A key is present when it, or its plural forms, are. */
const has = (cat: Record<string, string>, key: string): boolean => key in cat || `${key}_other` in cat;

describe("names in sentences", () => {
  it("isolates a player's name so a right-to-left name cannot reorder the sentence", () => {
    setLang("en");
    const name = "\u05d3\u05e0\u05d4 Bob"; // Hebrew and Latin in one name
    expect(t("log.left", { name })).toBe(`\u2068${name}\u2069 left.`);
    expect(t("outcome.lost", { name: "Ann", count: 1, after: 4 })).toBe("\u2068Ann\u2069 loses a die (4 left).");
    expect(t("bid.text", { quantity: 3, face: "fours" })).not.toContain("\u2068"); // only names
  });
});

describe("message catalogues", () => {
  it("English has every key the code uses", () => {
    const missing = usedKeys().filter((k) => !has(en, k));
    expect(missing).toEqual([]);
  });

  it("Spanish is complete: every English key, no extra keys, no empty text", () => {
    const enKeys = Object.keys(en).sort();
    const esKeys = Object.keys(es).sort();
    expect(enKeys.filter((k) => !(k in es)), "missing in es").toEqual([]);
    expect(esKeys.filter((k) => !(k in en)), "only in es").toEqual([]);
    for (const [k, v] of Object.entries(es)) expect(v.trim(), k).not.toBe("");
  });

  it("keeps every placeholder in every language", () => {
    const holes = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const lang of LANGS) {
      const cat = CATALOGUES[lang] as Record<string, string>;
      for (const [k, v] of Object.entries(en)) expect(holes(cat[k]!), `${lang} ${k}`).toEqual(holes(v));
    }
  });

  it("picks plural forms with Intl.PluralRules", () => {
    expect(t("summary.dice", { count: 1 })).toBe("1 die each");
    expect(t("summary.dice", { count: 3 })).toBe("3 dice each");
    expect(bidText(1, 1)).toBe("1 × ace");
    expect(bidText(3, 4)).toBe("3 × fours");
    setLang("es");
    expect(t("summary.dice", { count: 1 })).toBe("1 dado cada uno");
    expect(t("summary.dice", { count: 5 })).toBe("5 dados cada uno");
    expect(bidText(2, 6)).toBe("2 × seises");
    expect(t("table.dudo")).toBe("¡Dudo!");
  });

  it("uses the browser's language unless one was chosen", () => {
    expect(detectLang(null, ["es-AR", "en"])).toBe("es");
    expect(detectLang(null, ["de-DE", "en-GB"])).toBe("en");
    expect(detectLang(null, ["fr"])).toBe("en");
    expect(detectLang("en", ["es"])).toBe("en");
    expect(detectLang("xx", ["es"])).toBe("es");
  });
});
