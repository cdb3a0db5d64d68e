// House-rule metadata for the rules form: fields, groups, presets, the dependent settings a
// change adjusts, and a check in plain language before anything goes to the server.
// Labels and help live in the message catalogue under `rules.<field>.*`.
import { t } from "./i18n";
import type { GameConfig, RoomOptions } from "./protocol/generated";

export const DEFAULT_RULES: GameConfig = {
  starting_dice: 5, min_players: 2, max_players: 6, first_round_opener: { kind: "SeededRandom" },
  aces_wild: true, wild_scope: "AllDice", opening_aces_allowed: false, raise_rule: "Standard",
  ace_conversion: "HalfUpDoublePlusOne", bid_quantity_cap: "TotalDiceInPlay", opener_after_dudo: "Loser",
  calza_enabled: true, calza_caller: "CurrentPlayer", calza_success: "CallerGainsDie",
  calza_requires_missing_die: false, calza_once_per_game: false, opener_after_calza: "Caller",
  palifico_enabled: true, palifico_trigger: "Automatic", palifico_min_players: 3,
  palifico_face_locked: true, palifico_one_die_may_change_face: false, palifico_opening_aces_allowed: true,
  dudo_caller: "CurrentPlayer", dice_lost_on_dudo: "One", turn_time_limit_secs: null,
};

export const DEFAULT_OPTIONS: RoomOptions = { forfeit_after_secs: 120 };

export type RuleKey = Exclude<keyof GameConfig, "dice_lost_on_dudo">;

export type Field =
  | { key: RuleKey; kind: "count"; min: number; max: number }
  | { key: RuleKey; kind: "bool" }
  | { key: RuleKey; kind: "enum"; options: readonly string[] }
  | { key: "first_round_opener"; kind: "opener" }
  | { key: "turn_time_limit_secs"; kind: "seconds"; min: number; max: number };

export interface Group { id: string; fields: Field[]; show?: (r: GameConfig) => boolean }

export const RULE_GROUPS: readonly Group[] = [
  {
    id: "table",
    fields: [
      { key: "starting_dice", kind: "count", min: 1, max: 5 },
      { key: "max_players", kind: "count", min: 2, max: 10 },
      { key: "min_players", kind: "count", min: 2, max: 10 },
      { key: "first_round_opener", kind: "opener" },
      { key: "turn_time_limit_secs", kind: "seconds", min: 10, max: 300 },
    ],
  },
  {
    id: "aces",
    fields: [
      { key: "aces_wild", kind: "bool" },
      { key: "wild_scope", kind: "enum", options: ["AllDice", "BidderOnly"] },
      { key: "opening_aces_allowed", kind: "bool" },
      { key: "ace_conversion", kind: "enum", options: ["HalfUpDoublePlusOne", "DoubleValue"] },
    ],
  },
  {
    id: "bidding",
    fields: [
      { key: "raise_rule", kind: "enum", options: ["Standard", "FaceNonDecreasing", "FaceFirst"] },
      { key: "bid_quantity_cap", kind: "enum", options: ["TotalDiceInPlay", "Unbounded"] },
      { key: "dudo_caller", kind: "enum", options: ["CurrentPlayer", "Anyone"] },
      { key: "opener_after_dudo", kind: "enum", options: ["Loser", "Winner"] },
    ],
  },
  {
    id: "calza",
    fields: [
      { key: "calza_enabled", kind: "bool" },
      { key: "calza_caller", kind: "enum", options: ["CurrentPlayer", "AnyExceptBidderAndCurrent", "AnyExceptNext", "AnyExceptBidder"] },
      { key: "calza_success", kind: "enum", options: ["CallerGainsDie", "BidderLosesDie", "OthersLoseDie", "CallerGainsOthersLose"] },
      { key: "calza_requires_missing_die", kind: "bool" },
      { key: "calza_once_per_game", kind: "bool" },
      { key: "opener_after_calza", kind: "enum", options: ["Caller", "LastBidderOnSuccess"] },
    ],
  },
  {
    id: "palifico",
    fields: [
      { key: "palifico_enabled", kind: "bool" },
      { key: "palifico_trigger", kind: "enum", options: ["Automatic", "Declared"] },
      { key: "palifico_min_players", kind: "count", min: 2, max: 10 },
      { key: "palifico_face_locked", kind: "bool" },
      { key: "palifico_one_die_may_change_face", kind: "bool" },
      { key: "palifico_opening_aces_allowed", kind: "bool" },
    ],
  },
];

export interface Preset { id: string; rules: Partial<GameConfig> }

/** One-click rule sets; each starts from the defaults (the player counts are kept). */
export const PRESETS: readonly Preset[] = [
  { id: "classic", rules: { calza_enabled: false, palifico_enabled: false } },
  { id: "calza", rules: { calza_enabled: true, palifico_enabled: false } },
  { id: "palifico", rules: { calza_enabled: true, palifico_enabled: true } },
  { id: "quick", rules: { starting_dice: 3, calza_enabled: true, palifico_enabled: false, turn_time_limit_secs: 30 } },
];

const KEEP_ON_PRESET = ["min_players", "max_players", "first_round_opener"] as const;

export function applyPreset(current: GameConfig, preset: Preset): GameConfig {
  const next: GameConfig = { ...structuredClone(DEFAULT_RULES) };
  for (const k of KEEP_ON_PRESET) (next as Record<string, unknown>)[k] = structuredClone(current[k]);
  Object.assign(next, preset.rules);
  return adjustRules(next, null);
}

/** The preset these rules are, if any. */
export function presetOf(rules: GameConfig): string | null {
  for (const p of PRESETS) {
    const r = applyPreset(rules, p);
    if (JSON.stringify(r) === JSON.stringify(rules)) return p.id;
  }
  return null;
}

/** Adjusts the settings that depend on `changed` so the rules stay valid (e.g. fewer max
 * players lowers the palifico minimum) instead of letting the server refuse them. */
export function adjustRules(rules: GameConfig, changed: keyof GameConfig | null): GameConfig {
  const r = { ...rules };
  if (changed === "min_players" && r.max_players < r.min_players) r.max_players = r.min_players;
  if (r.min_players > r.max_players) r.min_players = r.max_players;
  if (r.palifico_min_players > r.max_players) r.palifico_min_players = r.max_players;
  if (r.first_round_opener.kind === "Seat" && r.first_round_opener.seat >= r.max_players) {
    r.first_round_opener = { kind: "SeededRandom" };
  }
  if (changed === "raise_rule" && r.raise_rule === "FaceFirst") r.aces_wild = false;
  if (changed === "wild_scope" && r.wild_scope === "BidderOnly") r.aces_wild = true;
  if (r.aces_wild && r.raise_rule === "FaceFirst") r.raise_rule = "Standard";
  if (!r.aces_wild && r.wild_scope === "BidderOnly") r.wild_scope = "AllDice";
  if (changed === "palifico_one_die_may_change_face" && r.palifico_one_die_may_change_face) r.palifico_face_locked = true;
  if (!r.palifico_face_locked) r.palifico_one_die_may_change_face = false;
  if (changed === "calza_requires_missing_die" && r.calza_requires_missing_die && r.starting_dice === 1) r.starting_dice = 2;
  if (r.starting_dice === 1) r.calza_requires_missing_die = false;
  return r;
}

/** What is wrong with these settings, in plain words, or null. */
export function rulesProblem(rules: GameConfig, options: RoomOptions): string | null {
  const limit = rules.turn_time_limit_secs;
  if (limit !== null && (!Number.isInteger(limit) || limit < 10 || limit > 300)) return t("rules.problem.turnLimit");
  const f = options.forfeit_after_secs;
  if (!Number.isInteger(f) || f < 15 || f > 3600) return t("rules.problem.forfeit");
  return null;
}

/** A short summary in words: "5 dice each, 2–6 players, calza, palifico, 30 s per turn". */
export function rulesSummary(r: GameConfig): string {
  const parts = [
    t("summary.dice", { count: r.starting_dice }),
    t("summary.players", { min: r.min_players, max: r.max_players }),
    r.aces_wild ? (r.wild_scope === "BidderOnly" ? t("summary.acesBidder") : t("summary.acesWild")) : t("summary.acesPlain"),
  ];
  if (r.calza_enabled) parts.push(t("summary.calza"));
  if (r.palifico_enabled) parts.push(t("summary.palifico"));
  parts.push(r.turn_time_limit_secs === null ? t("summary.noLimit") : t("summary.limit", { count: r.turn_time_limit_secs }));
  return parts.join(" · ");
}
