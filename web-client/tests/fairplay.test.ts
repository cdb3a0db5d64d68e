// @vitest-environment happy-dom
// "Verify dice": the record's commitment against the one this browser received when the game
// started, and the revealed seed against both.
import { render } from "preact";
import { afterEach, describe, expect, it } from "vitest";
import { checkGame, forgetCommitments, noteLiveCommitment, rememberCommitment, seenCommitment } from "../src/fairplay";
import type { VerifyReport } from "../src/fairplay";
import { bytesToHex } from "../src/game";
import type { GameResults } from "../src/protocol/generated";
import { initialState, reduce } from "../src/state";
import type { RoomState } from "../src/state";
import { resultsView } from "../src/views/results";
import { golden } from "./fixtures";

const CODE = "ABCDEFGHJ";

afterEach(() => forgetCommitments());

async function sha256(hex: string): Promise<string> {
  const bytes = new Uint8Array(hex.match(/../g)!.map((b) => parseInt(b, 16)));
  return bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

/** A game played live: lobby, GameStarted (noted as it arrives), then the game-over update. */
function playedLive(): { started: RoomState; over: RoomState; live: string } {
  let s = reduce(initialState, golden("server_snapshot_lobby", "Snapshot"));
  noteLiveCommitment(CODE, s);
  const start = golden("server_update_game_started", "Update");
  s = reduce(s, { ...start, version: s.version! + 1 });
  noteLiveCommitment(CODE, s);
  const started = s;
  const over = reduce(reduce(initialState, golden("server_snapshot_playing", "Snapshot")), { ...golden("server_update_game_over", "Update"), version: 13 });
  noteLiveCommitment(CODE, over);
  const ev = start.events.find((e) => e.type === "Game" && e.event.type === "GameStarted");
  if (ev?.type !== "Game" || ev.event.type !== "GameStarted") throw new Error("the golden start has GameStarted");
  return { started, over, live: ev.event.commitment };
}

/** A fetch that serves `record` (or answers `status`) for the game's record URL only. */
function serve(record: object | null, status = 200): typeof fetch {
  return (async (url: string | URL | Request) => {
    expect(String(url)).toBe(`/api/rooms/${CODE}/games/1`);
    return new Response(record ? JSON.stringify(record) : JSON.stringify({ code: "no_such_game" }), { status: record ? status : 404 });
  }) as typeof fetch;
}

/** Results and a record for game 1 made from `seed`, as an honest server would send them. */
async function honest(seed: string, base: GameResults): Promise<{ results: GameResults; record: object }> {
  const commitment = await sha256(seed);
  return {
    results: { ...base, game: 1, seed, commitment },
    record: { format: 2, game: 1, seed, commitment, rounds: [{ round: 0 }, { round: 1 }] },
  };
}

describe("verify dice", () => {
  it("remembers the commitment of the game's start, not one that comes after", () => {
    const { started, live } = playedLive();
    expect(started.room?.phase).toBe("Playing");
    expect(seenCommitment(CODE, started.room!.games_played + 1)).toBe(live);
    // A later, different commitment for the same game does not replace it.
    rememberCommitment(CODE, started.room!.games_played + 1, "f".repeat(64));
    expect(seenCommitment(CODE, started.room!.games_played + 1)).toBe(live);
    // The finished game's results do not count as seen at the start: no game 2 was noted.
    expect(seenCommitment(CODE, 2)).toBeNull();
  });

  it("says fair when the record holds the commitment seen at the start and the seed hashes to it", async () => {
    const seed = "2a".padEnd(64, "0");
    const { results, record } = await honest(seed, golden("server_update_game_over", "Update").room!.results!);
    rememberCommitment(CODE, 1, results.commitment);
    const report = await checkGame(CODE, results, seenCommitment(CODE, 1), serve(record));
    expect(report).toMatchObject({ verdict: "fair", source: "record", seenMatches: true, seedMatches: true, resultsMatch: true, rounds: 2 });
  });

  it("says mismatch when the record's commitment is not the one seen at the start, even if seed and commitment agree", async () => {
    const seen = await sha256("11".repeat(32));
    // The server swapped the seed and recomputed the commitment: self-consistent, but not what was promised.
    const { results, record } = await honest("22".repeat(32), golden("server_update_game_over", "Update").room!.results!);
    rememberCommitment(CODE, 1, seen);
    const report = await checkGame(CODE, results, seenCommitment(CODE, 1), serve(record));
    expect(report).toMatchObject({ verdict: "mismatch", seenMatches: false, seedMatches: true, seen });
  });

  it("says mismatch when the seed does not hash to the commitment", async () => {
    const { results, record } = await honest("33".repeat(32), golden("server_update_game_over", "Update").room!.results!);
    rememberCommitment(CODE, 1, results.commitment);
    const tampered = { ...record, seed: "34".repeat(32) };
    const report = await checkGame(CODE, { ...results, seed: "34".repeat(32) }, seenCommitment(CODE, 1), serve(tampered));
    expect(report).toMatchObject({ verdict: "mismatch", seenMatches: true, seedMatches: false });
  });

  it("says mismatch when the record and the results this browser received disagree", async () => {
    const { results, record } = await honest("44".repeat(32), golden("server_update_game_over", "Update").room!.results!);
    const other = await honest("55".repeat(32), results);
    rememberCommitment(CODE, 1, results.commitment);
    const report = await checkGame(CODE, results, results.commitment, serve(other.record));
    expect(report).toMatchObject({ verdict: "mismatch", resultsMatch: false, seenMatches: false });
    expect(record).not.toEqual(other.record);
  });

  it("says it cannot vouch when this browser did not see the game run", async () => {
    const { results, record } = await honest("66".repeat(32), golden("server_update_game_over", "Update").room!.results!);
    const report = await checkGame(CODE, results, seenCommitment(CODE, 1), serve(record));
    expect(report).toMatchObject({ verdict: "unseen", seen: null, seenMatches: null, seedMatches: true });
  });

  it("checks the results when the server keeps no record", async () => {
    const { results } = await honest("77".repeat(32), golden("server_update_game_over", "Update").room!.results!);
    const report = await checkGame(CODE, results, results.commitment, serve(null));
    expect(report).toMatchObject({ verdict: "fair", source: "results", rounds: null });
  });

  it("shows the verdict and each check plainly", async () => {
    const { over } = playedLive();
    const base = over.room!.results!;
    const { results, record } = await honest("88".repeat(32), base);
    const draw = (report: VerifyReport | null): HTMLElement => {
      const el = document.createElement("div");
      render(resultsView({ state: over, results, ui: { verifyOpen: true, verifyResult: report }, reducedMotion: true, send: () => {}, verify: () => {} }), el);
      return el;
    };
    const q = (el: HTMLElement, id: string) => el.querySelector(`[data-testid="${id}"]`);
    expect(q(draw(null), "verify-result")?.textContent).toBe("checking…");

    const fair = draw(await checkGame(CODE, results, results.commitment, serve(record)));
    expect(q(fair, "verify-result")?.getAttribute("data-verdict")).toBe("fair");
    expect(q(fair, "verify-result")?.textContent).toMatch(/fair/);
    expect(q(fair, "verify-seen-check")?.textContent).toMatch(/is the one this browser received/);
    expect(q(fair, "verify-seen")?.textContent).toBe(results.commitment);
    expect(q(fair, "verify-commitment")?.textContent).toBe(results.commitment);
    expect(q(fair, "verify-seed")?.textContent).toBe(results.seed);
    expect(q(fair, "verify-record-link")?.getAttribute("href")).toBe(`/api/rooms/${CODE}/games/1`);

    const swapped = draw(await checkGame(CODE, results, "ab".repeat(32), serve(record)));
    expect(q(swapped, "verify-result")?.getAttribute("data-verdict")).toBe("mismatch");
    expect(q(swapped, "verify-seen-check")?.textContent).toMatch(/is NOT the one/);
    expect(q(swapped, "verify-seen")?.textContent).toBe("ab".repeat(32));

    const unseen = draw(await checkGame(CODE, results, null, serve(null)));
    expect(q(unseen, "verify-result")?.getAttribute("data-verdict")).toBe("unseen");
    expect(q(unseen, "verify-seen-check")?.textContent).toMatch(/did not see the game start/);
    expect(q(unseen, "verify-no-record")).not.toBeNull();
  });
});
