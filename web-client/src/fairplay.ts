// "Verify dice": the game's record (GET /api/rooms/{code}/games/{n}) checked against what this
// browser itself received while the game ran. The server cannot change the dice during a game
// without changing the seed, and it cannot change the seed without changing the commitment it
// sent every player at the start: so the commitment this browser saw then must be the record's,
// and the revealed seed must hash to it. Re-deriving every die from the seed (ChaCha20, which
// Web Crypto lacks) is left to the record's verifiers (docs/FAIRPLAY.md).
import { verifySeed } from "./game";
import type { GameResults } from "./protocol/generated";
import type { RoomState } from "./state";

/** The commitments this page received while games ran, first one per game. Also kept in
 * sessionStorage, so a reload after the game still remembers it. */
const seen = new Map<string, string>();

const seenKey = (code: string, game: number): string => `perudo.commitment.${code}.${game}`;

/** Notes the commitment received while game `game` of room `code` was running. The first one
 * stays: a server that later sent another would be caught by the comparison. */
export function rememberCommitment(code: string, game: number, commitment: string): void {
  const key = seenKey(code, game);
  if (seenCommitment(code, game) !== null) return;
  seen.set(key, commitment);
  try {
    sessionStorage.setItem(key, commitment);
  } catch {
    // Storage off (private mode, quota): this page's memory still has it.
  }
}

/** Called after every message: while a game runs (from its GameStarted event, or the table of
 * a snapshot taken during it) the state's commitment is the running game's, received before
 * its seed is out. */
export function noteLiveCommitment(code: string, state: RoomState): void {
  const room = state.room;
  if (room && (room.phase === "Playing" || room.phase === "Reveal") && state.commitment) {
    rememberCommitment(code, room.games_played + 1, state.commitment);
  }
}

/** The commitment this browser received while game `game` ran, or null if it never saw it run. */
export function seenCommitment(code: string, game: number): string | null {
  const key = seenKey(code, game);
  const kept = seen.get(key);
  if (kept !== undefined) return kept;
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

/** Forgets every remembered commitment (tests). */
export function forgetCommitments(): void {
  seen.clear();
  try {
    for (const key of Object.keys(sessionStorage)) if (key.startsWith("perudo.commitment.")) sessionStorage.removeItem(key);
  } catch {
    // Nothing kept there.
  }
}

/** The fields of a game record this check reads. */
interface RecordFields { seed: string; commitment: string; rounds?: unknown[] }

/** `fair`: the record's commitment is the one seen at the start and the seed hashes to it.
 * `unseen`: the seed hashes to the record's commitment, but this browser did not see the game
 * start, so it cannot vouch for that commitment. `mismatch`: something does not agree. */
export type Verdict = "fair" | "unseen" | "mismatch";

export interface VerifyReport {
  verdict: Verdict;
  /** Where the seed and commitment come from: the game's record, or (a server without
   * storage keeps none) the results this browser received at the game's end. */
  source: "record" | "results";
  recordUrl: string;
  seed: string;
  /** The commitment in the record (or the results). */
  commitment: string;
  /** The commitment this browser received when the game started, if it saw that. */
  seen: string | null;
  /** Whether `seen` is `commitment`; null when nothing was seen. */
  seenMatches: boolean | null;
  /** Whether SHA-256 of the seed's 32 bytes is `commitment`. */
  seedMatches: boolean;
  /** Whether the record names the seed and commitment of the results this browser got. */
  resultsMatch: boolean;
  /** Rounds whose dice the record lists (null without a record). */
  rounds: number | null;
}

/** Fetches game `results.game`'s record from room `code` and checks it against `seen`. */
export async function checkGame(
  code: string,
  results: GameResults,
  seen: string | null,
  fetcher: typeof fetch = fetch,
): Promise<VerifyReport> {
  const recordUrl = `/api/rooms/${encodeURIComponent(code)}/games/${results.game}`;
  let record: RecordFields | null = null;
  try {
    const res = await fetcher(recordUrl);
    if (res.ok) {
      const body = (await res.json()) as Partial<RecordFields> | null;
      if (body && typeof body.seed === "string" && typeof body.commitment === "string") {
        record = { seed: body.seed, commitment: body.commitment, rounds: Array.isArray(body.rounds) ? body.rounds : undefined };
      }
    }
  } catch {
    record = null; // Offline or no record: check what the results said.
  }
  const seed = record?.seed ?? results.seed;
  const commitment = (record?.commitment ?? results.commitment).toLowerCase();
  const seedMatches = await verifySeed(seed, commitment);
  const seenMatches = seen === null ? null : seen.toLowerCase() === commitment;
  const resultsMatch = results.seed === seed && results.commitment.toLowerCase() === commitment;
  const verdict: Verdict = !seedMatches || seenMatches === false || !resultsMatch ? "mismatch" : seenMatches ? "fair" : "unseen";
  return {
    verdict,
    source: record ? "record" : "results",
    recordUrl,
    seed,
    commitment,
    seen,
    seenMatches,
    seedMatches,
    resultsMatch,
    rounds: record?.rounds?.length ?? null,
  };
}
