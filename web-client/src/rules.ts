// House-rule metadata for the rules form: GameConfig fields, defaults, one-line help, groups.
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

export type Field =
  | { key: keyof GameConfig; label: string; help: string; kind: "number"; min: number; max: number }
  | { key: keyof GameConfig; label: string; help: string; kind: "bool" }
  | { key: keyof GameConfig; label: string; help: string; kind: "enum"; options: readonly string[] }
  | { key: "first_round_opener"; label: string; help: string; kind: "opener" }
  | { key: "turn_time_limit_secs"; label: string; help: string; kind: "optional-number"; min: number; max: number };

export const RULE_GROUPS: ReadonlyArray<{ title: string; fields: Field[] }> = [
  {
    title: "Dice & players",
    fields: [
      { key: "starting_dice", label: "Starting dice", help: "Dice each player starts with (1–5).", kind: "number", min: 1, max: 5 },
      { key: "min_players", label: "Min players", help: "Fewest seats needed to start.", kind: "number", min: 2, max: 10 },
      { key: "max_players", label: "Max players", help: "Most seats in the room (up to 10).", kind: "number", min: 2, max: 10 },
      { key: "first_round_opener", label: "First opener", help: "Who opens the first round.", kind: "opener" },
      { key: "dice_lost_on_dudo", label: "Dice lost on dudo", help: "How many dice a lost dudo costs.", kind: "enum", options: ["One"] },
    ],
  },
  {
    title: "Bidding",
    fields: [
      { key: "aces_wild", label: "Aces wild", help: "Aces count as any face when bids are counted.", kind: "bool" },
      { key: "wild_scope", label: "Wild scope", help: "Everyone's aces are wild, or only the bidder's.", kind: "enum", options: ["AllDice", "BidderOnly"] },
      { key: "opening_aces_allowed", label: "Open on aces", help: "May a normal round be opened on aces.", kind: "bool" },
      { key: "raise_rule", label: "Raise rule", help: "How a plain-face bid may be raised.", kind: "enum", options: ["Standard", "FaceNonDecreasing", "FaceFirst"] },
      { key: "ace_conversion", label: "Ace conversion", help: "Exchange rate between ace and plain bids.", kind: "enum", options: ["HalfUpDoublePlusOne", "DoubleValue"] },
      { key: "bid_quantity_cap", label: "Quantity cap", help: "Largest quantity a bid may name.", kind: "enum", options: ["TotalDiceInPlay", "Unbounded"] },
      { key: "dudo_caller", label: "Dudo caller", help: "Who may call dudo on a bid.", kind: "enum", options: ["CurrentPlayer", "Anyone"] },
      { key: "opener_after_dudo", label: "Opener after dudo", help: "Who opens the round after a dudo.", kind: "enum", options: ["Loser", "Winner"] },
    ],
  },
  {
    title: "Calza",
    fields: [
      { key: "calza_enabled", label: "Calza", help: "Players may claim the bid is exactly right.", kind: "bool" },
      { key: "calza_caller", label: "Calza caller", help: "Who may call calza.", kind: "enum", options: ["CurrentPlayer", "AnyExceptBidderAndCurrent", "AnyExceptNext", "AnyExceptBidder"] },
      { key: "calza_success", label: "Calza success", help: "What a correct calza does.", kind: "enum", options: ["CallerGainsDie", "BidderLosesDie", "OthersLoseDie", "CallerGainsOthersLose"] },
      { key: "calza_requires_missing_die", label: "Needs a lost die", help: "Only players who lost a die may call calza.", kind: "bool" },
      { key: "calza_once_per_game", label: "Once per game", help: "Each player may call calza once per game.", kind: "bool" },
      { key: "opener_after_calza", label: "Opener after calza", help: "Who opens the round after a calza.", kind: "enum", options: ["Caller", "LastBidderOnSuccess"] },
    ],
  },
  {
    title: "Palifico",
    fields: [
      { key: "palifico_enabled", label: "Palifico", help: "Special rounds when a player is down to one die.", kind: "bool" },
      { key: "palifico_trigger", label: "Trigger", help: "Automatic at one die, or declared by the player.", kind: "enum", options: ["Automatic", "Declared"] },
      { key: "palifico_min_players", label: "Min players", help: "Fewest active players for a palifico round.", kind: "number", min: 2, max: 10 },
      { key: "palifico_face_locked", label: "Face locked", help: "Every bid keeps the opening face.", kind: "bool" },
      { key: "palifico_one_die_may_change_face", label: "One-die may change face", help: "Players with one die may change the locked face.", kind: "bool" },
      { key: "palifico_opening_aces_allowed", label: "Open on aces", help: "May the palifico opener bid aces.", kind: "bool" },
    ],
  },
  {
    title: "Turn time limit",
    fields: [
      { key: "turn_time_limit_secs", label: "Seconds per turn", help: "Empty for no limit, else 10–300 s; then the room plays for you.", kind: "optional-number", min: 10, max: 300 },
    ],
  },
];
