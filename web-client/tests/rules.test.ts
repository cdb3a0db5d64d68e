import { describe, expect, it } from "vitest";
import { DEFAULT_OPTIONS, DEFAULT_RULES, PRESETS, adjustRules, applyPreset, presetOf, rulesProblem, rulesSummary } from "../src/rules";
import type { GameConfig } from "../src/protocol/generated";

/** The server's own checks (game-core config.rs `validate`), restated to test adjustRules. */
function valid(r: GameConfig): boolean {
  return r.starting_dice >= 1 && r.starting_dice <= 5 && r.min_players >= 2 && r.max_players <= 10 && r.min_players <= r.max_players
    && (r.first_round_opener.kind !== "Seat" || r.first_round_opener.seat < r.max_players)
    && r.palifico_min_players >= 2 && r.palifico_min_players <= r.max_players
    && !(r.raise_rule === "FaceFirst" && r.aces_wild) && !(r.wild_scope === "BidderOnly" && !r.aces_wild)
    && !(r.palifico_one_die_may_change_face && !r.palifico_face_locked) && !(r.calza_requires_missing_die && r.starting_dice === 1);
}

describe("house rules", () => {
  it("max players 2 lowers the palifico minimum and the min players instead of failing", () => {
    const r = adjustRules({ ...DEFAULT_RULES, min_players: 3, max_players: 2 }, "max_players");
    expect(r.max_players).toBe(2);
    expect(r.palifico_min_players).toBe(2);
    expect(r.min_players).toBe(2);
    expect(valid(r)).toBe(true);
  });

  it("raising min players above max raises max", () => {
    expect(adjustRules({ ...DEFAULT_RULES, min_players: 8, max_players: 6 }, "min_players").max_players).toBe(8);
  });

  it("keeps contradictory pairs apart, favouring the field just changed", () => {
    expect(adjustRules({ ...DEFAULT_RULES, raise_rule: "FaceFirst" }, "raise_rule").aces_wild).toBe(false);
    expect(adjustRules({ ...DEFAULT_RULES, raise_rule: "FaceFirst", aces_wild: true }, "aces_wild").raise_rule).toBe("Standard");
    expect(adjustRules({ ...DEFAULT_RULES, aces_wild: false, wild_scope: "BidderOnly" }, "aces_wild").wild_scope).toBe("AllDice");
    expect(adjustRules({ ...DEFAULT_RULES, aces_wild: false, wild_scope: "BidderOnly" }, "wild_scope").aces_wild).toBe(true);
    expect(adjustRules({ ...DEFAULT_RULES, palifico_face_locked: false, palifico_one_die_may_change_face: true }, "palifico_one_die_may_change_face").palifico_face_locked).toBe(true);
    expect(adjustRules({ ...DEFAULT_RULES, starting_dice: 1, calza_requires_missing_die: true }, "calza_requires_missing_die").starting_dice).toBe(2);
    expect(adjustRules({ ...DEFAULT_RULES, starting_dice: 1, calza_requires_missing_die: true }, "starting_dice").calza_requires_missing_die).toBe(false);
    expect(adjustRules({ ...DEFAULT_RULES, max_players: 3, first_round_opener: { kind: "Seat", seat: 5 } }, "max_players").first_round_opener).toEqual({ kind: "SeededRandom" });
  });

  it("every preset is valid and recognised", () => {
    for (const p of PRESETS) {
      const r = applyPreset(DEFAULT_RULES, p);
      expect(valid(r), p.id).toBe(true);
      expect(presetOf(r)).toBe(p.id);
    }
    expect(applyPreset(DEFAULT_RULES, PRESETS.find((p) => p.id === "quick")!).starting_dice).toBe(3);
    expect(presetOf({ ...DEFAULT_RULES, raise_rule: "FaceNonDecreasing" })).toBeNull();
  });

  it("names problems in plain words and summarises", () => {
    expect(rulesProblem(DEFAULT_RULES, DEFAULT_OPTIONS)).toBeNull();
    expect(rulesProblem({ ...DEFAULT_RULES, turn_time_limit_secs: 5 }, DEFAULT_OPTIONS)).toMatch(/10–300/);
    expect(rulesProblem(DEFAULT_RULES, { forfeit_after_secs: 5 })).toMatch(/15–3600/);
    expect(rulesSummary({ ...DEFAULT_RULES, turn_time_limit_secs: 30 })).toBe("5 dice each · 2–6 players · aces wild · calza · palifico · 30 seconds a turn");
  });
});
