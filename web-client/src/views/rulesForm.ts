// The house-rules form (home page and lobby): presets, then the settings in groups, each with
// a plain-language name and help. Inputs carry data-testid `rule-<field>`. The form is
// controlled: it shows `rules`/`options` and reports every change; the caller keeps them.
import { h } from "../dom";
import type { VNode } from "../dom";
import { t } from "../i18n";
import type { GameConfig, RoomOptions } from "../protocol/generated";
import { PRESETS, RULE_GROUPS, applyPreset, presetOf } from "../rules";
import type { Field } from "../rules";

export interface RulesFormProps {
  rules: GameConfig;
  options: RoomOptions;
  /** The whole new rule set (already adjusted) and the field the person changed. */
  onRules(rules: GameConfig, changed: keyof GameConfig | null): void;
  onOptions(options: RoomOptions): void;
  idPrefix?: string;
}

function input(field: Field, p: RulesFormProps): VNode {
  const { rules } = p;
  const id = `rule-${field.key}`;
  const set = (value: unknown): void => p.onRules({ ...rules, [field.key]: value } as GameConfig, field.key);
  const common = { id, testid: id, "aria-describedby": `${id}-help` };
  const value = rules[field.key];
  switch (field.kind) {
    case "bool":
      return h("input", {
        ...common, type: "checkbox", checked: value === true,
        onchange: (e: Event) => set((e.target as HTMLInputElement).checked),
      });
    case "count": {
      const opts = [];
      for (let n = field.min; n <= field.max; n++) opts.push(n);
      return h("select", {
        ...common, value: String(value),
        onchange: (e: Event) => set(parseInt((e.target as HTMLSelectElement).value, 10)),
      }, opts.map((n) => h("option", { key: n, value: String(n) }, String(n))));
    }
    case "seconds":
      return h("input", {
        ...common, type: "number", min: field.min, max: field.max, step: 1, inputmode: "numeric", placeholder: t("rules.off"),
        value: rules.turn_time_limit_secs === null ? "" : String(rules.turn_time_limit_secs),
        oninput: (e: Event) => {
          const raw = (e.target as HTMLInputElement).value.trim();
          const n = parseInt(raw, 10);
          set(raw === "" || !Number.isFinite(n) ? null : n);
        },
      });
    case "enum":
      return h("select", {
        ...common, value: String(value),
        onchange: (e: Event) => set((e.target as HTMLSelectElement).value),
      }, field.options.map((o) => h("option", { key: o, value: o }, t(`rules.${field.key}.${o}`))));
    case "opener": {
      const cur = rules.first_round_opener.kind === "Seat" ? String(rules.first_round_opener.seat) : "random";
      const opts = ["random", ...Array.from({ length: rules.max_players }, (_, i) => String(i))];
      return h("select", {
        ...common, value: cur,
        onchange: (e: Event) => {
          const v = (e.target as HTMLSelectElement).value;
          set(v === "random" ? { kind: "SeededRandom" } : { kind: "Seat", seat: parseInt(v, 10) });
        },
      }, opts.map((o) => h("option", { key: o, value: o }, o === "random" ? t("rules.first_round_opener.random") : t("seat.n", { n: parseInt(o, 10) + 1 }))));
    }
  }
}

function shown(field: Field, r: GameConfig): boolean {
  if (field.key.startsWith("calza_") && field.key !== "calza_enabled") return r.calza_enabled;
  if (field.key === "opener_after_calza") return r.calza_enabled;
  if (field.key.startsWith("palifico_") && field.key !== "palifico_enabled") return r.palifico_enabled;
  if (field.key === "wild_scope" || field.key === "ace_conversion") return r.aces_wild;
  if (field.key === "palifico_one_die_may_change_face") return r.palifico_enabled && r.palifico_face_locked;
  return true;
}

export function rulesForm(p: RulesFormProps): VNode {
  const { rules, options } = p;
  const current = presetOf(rules);
  return h("div", { class: "rules" },
    h("div", { class: "presets", role: "group", "aria-label": t("rules.presets") },
      PRESETS.map((preset) => h("button", {
        key: preset.id, type: "button", testid: `preset-${preset.id}`, class: `preset${current === preset.id ? " chosen" : ""}`,
        "aria-pressed": String(current === preset.id),
        onclick: () => p.onRules(applyPreset(rules, preset), null),
      }, h("strong", null, t(`preset.${preset.id}`)), h("small", null, t(`preset.${preset.id}.help`))))),
    RULE_GROUPS.map((group) =>
      h("fieldset", { key: group.id, class: "rule-group" },
        h("legend", null, t(`rules.group.${group.id}`)),
        group.fields.filter((f) => shown(f, rules)).map((f) =>
          h("div", { key: f.key, class: `rule rule-${f.kind}` },
            h("label", { for: `rule-${f.key}` }, t(`rules.${f.key}`)),
            input(f, p),
            h("small", { id: `rule-${f.key}-help`, class: "help" }, t(`rules.${f.key}.help`)))),
        group.id === "table"
          ? h("div", { class: "rule rule-seconds" },
              h("label", { for: "option-forfeit_after_secs" }, t("rules.forfeit")),
              h("input", {
                id: "option-forfeit_after_secs", testid: "option-forfeit_after_secs", type: "number", min: 15, max: 3600,
                inputmode: "numeric", value: String(options.forfeit_after_secs), "aria-describedby": "option-forfeit-help",
                oninput: (e: Event) => {
                  const n = parseInt((e.target as HTMLInputElement).value, 10);
                  if (Number.isFinite(n)) p.onOptions({ ...options, forfeit_after_secs: n });
                },
              }),
              h("small", { id: "option-forfeit-help", class: "help" }, t("rules.forfeit.help")))
          : null)));
}
