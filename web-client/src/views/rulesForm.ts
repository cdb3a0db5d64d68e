// The house-rules form (home page and lobby). Inputs carry data-testid `rule-<field>`.
import { h } from "../dom";
import type { GameConfig, RoomOptions } from "../protocol/generated";
import { RULE_GROUPS } from "../rules";
import type { Field } from "../rules";

/** Mutates `rules` in place (so closures never see a stale copy) and tells `changed`. */
function input(field: Field, rules: GameConfig, changed: () => void, disabled: boolean): HTMLElement {
  const set = (patch: Partial<GameConfig>): void => { Object.assign(rules, patch); changed(); };
  const id = `rule-${field.key}`;
  const common = { id, testid: id, disabled, "aria-describedby": `${id}-help` };
  const value = rules[field.key];
  switch (field.kind) {
    case "bool":
      return h("input", {
        ...common, type: "checkbox", checked: value === true,
        onchange: (e: Event) => set({ [field.key]: (e.target as HTMLInputElement).checked }),
      });
    case "number":
      return h("input", {
        ...common, type: "number", min: field.min, max: field.max, step: 1, inputmode: "numeric", value: String(value),
        oninput: (e: Event) => {
          const n = parseInt((e.target as HTMLInputElement).value, 10);
          if (Number.isFinite(n)) set({ [field.key]: n });
        },
      });
    case "optional-number":
      return h("input", {
        ...common, type: "number", min: field.min, max: field.max, step: 1, inputmode: "numeric", placeholder: "off",
        value: rules.turn_time_limit_secs === null ? "" : String(rules.turn_time_limit_secs),
        oninput: (e: Event) => {
          const raw = (e.target as HTMLInputElement).value.trim();
          const n = parseInt(raw, 10);
          set({ turn_time_limit_secs: raw === "" || !Number.isFinite(n) ? null : n });
        },
      });
    case "enum":
      return h("select", {
        ...common,
        onchange: (e: Event) => set({ [field.key]: (e.target as HTMLSelectElement).value }),
      }, field.options.map((o) => h("option", { value: o, selected: o === value }, o)));
    case "opener": {
      const cur = rules.first_round_opener.kind === "Seat" ? String(rules.first_round_opener.seat) : "random";
      const opts = ["random", ...Array.from({ length: 10 }, (_, i) => String(i))];
      return h("select", {
        ...common,
        onchange: (e: Event) => {
          const v = (e.target as HTMLSelectElement).value;
          set({ first_round_opener: v === "random" ? { kind: "SeededRandom" } : { kind: "Seat", seat: parseInt(v, 10) } });
        },
      }, opts.map((o) => h("option", { value: o, selected: o === cur }, o === "random" ? "Random (from the seed)" : `Seat ${parseInt(o, 10) + 1}`)));
    }
  }
}

export function rulesForm(
  rules: GameConfig,
  options: RoomOptions,
  changed: () => void,
  disabled = false,
): HTMLElement {
  return h("div", { class: "rules" },
    RULE_GROUPS.map((group) =>
      h("fieldset", { class: "rule-group" },
        h("legend", null, group.title),
        group.fields.map((f) =>
          h("div", { class: `rule rule-${f.kind}` },
            h("label", { for: `rule-${f.key}` }, f.label),
            input(f, rules, changed, disabled),
            h("small", { id: `rule-${f.key}-help`, class: "help" }, f.help),
          )),
        group.title === "Turn time limit"
          ? h("div", { class: "rule rule-number" },
              h("label", { for: "option-forfeit_after_secs" }, "Forfeit after (s)"),
              h("input", {
                id: "option-forfeit_after_secs", testid: "option-forfeit_after_secs", type: "number", min: 15, max: 3600,
                disabled, value: String(options.forfeit_after_secs), "aria-describedby": "option-forfeit-help",
                oninput: (e: Event) => {
                  const n = parseInt((e.target as HTMLInputElement).value, 10);
                  if (Number.isFinite(n)) { options.forfeit_after_secs = n; changed(); }
                },
              }),
              h("small", { id: "option-forfeit-help", class: "help" }, "A player away this long during a game forfeits (15–3600 s)."))
          : null,
      )),
  );
}
