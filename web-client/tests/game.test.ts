import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { backoffDelay, roomSocketUrl } from "../src/connection";
import { dieMatches, hexToBytes, legalBidOptions, legalQuantities, minimumRaise, revealMatches, verifySeed } from "../src/game";
import { bidText } from "../src/i18n";
import type { LegalMoves, Resolution } from "../src/protocol/generated";
import { gameOver, scripted } from "./fixtures";

const legal = (min_bid: LegalMoves["min_bid"], max_quantity: number): LegalMoves => ({
  min_bid, max_quantity, dudo: true, calza: false, declare_palifico: false,
});

describe("bid picker options", () => {
  it("offers only faces with a minimum, from min to max", () => {
    const l = legal([2, 4, 4, null, 5, 5], 6);
    expect(legalBidOptions(l).map((o) => o.face)).toEqual([1, 2, 3, 5, 6]);
    expect(legalQuantities(l, 2)).toEqual([4, 5, 6]);
    expect(legalQuantities(l, 4)).toEqual([]);
    expect(legalQuantities(l, 1)).toEqual([2, 3, 4, 5, 6]);
  });
  it("drops faces whose minimum is above the cap", () => {
    const l = legal([null, 7, 7, 7, 7, 6], 6);
    expect(legalBidOptions(l)).toEqual([{ face: 6, min: 6, max: 6 }]);
  });
  it("picks the minimum raise on the last bid's face, else the lowest quantity", () => {
    const l = legal([2, 4, 4, null, 5, 5], 6);
    expect(minimumRaise(l, 5)).toEqual({ quantity: 5, face: 5 });
    expect(minimumRaise(l, 4)).toEqual({ quantity: 2, face: 1 }); // fours not legal: lowest quantity
    expect(minimumRaise(l, null)).toEqual({ quantity: 2, face: 1 });
    expect(minimumRaise(legal([null, null, null, null, null, null], 10), 3)).toBeNull();
  });
  it("offers nothing without legal moves", () => {
    expect(legalBidOptions(null)).toEqual([]);
    expect(legalBidOptions(legal([null, null, null, null, null, null], 10))).toEqual([]);
  });
  it("uses the server's legal moves from a golden seat view", () => {
    const you = scripted.nextRound().you!;
    expect(legalBidOptions(you.legal).length).toBeGreaterThan(0);
    for (const o of legalBidOptions(you.legal)) {
      expect(o.min).toBe(you.legal.min_bid[o.face - 1]);
      expect(o.max).toBe(you.legal.max_quantity);
    }
  });
  it("names bids", () => {
    expect(bidText(3, 4)).toBe("3 × fours");
    expect(bidText(1, 1)).toBe("1 × ace");
  });
});

const resolution = (wilds: Resolution["wilds"], face: number, bidder = 0): Resolution => ({
  round: 1, call: { type: "Dudo", challenger: 1 }, bid: { seat: bidder, bid: { quantity: 3, face } },
  hands: [[1, 2, 4], [1, 4, 6], []], wilds, count: 0, call_succeeded: false, changes: [],
});

describe("reveal matches", () => {
  it("counts aces for everyone with AllDice", () => {
    expect(revealMatches(resolution("AllDice", 4))).toEqual([[true, false, true], [true, true, false], []]);
  });
  it("counts only the bidder's aces with BidderOnly", () => {
    expect(revealMatches(resolution("BidderOnly", 4, 0))).toEqual([[true, false, true], [false, true, false], []]);
    expect(revealMatches(resolution("BidderOnly", 4, 1))).toEqual([[false, false, true], [true, true, false], []]);
  });
  it("counts no aces with None", () => {
    expect(revealMatches(resolution("None", 4))).toEqual([[false, false, true], [false, true, false], []]);
  });
  it("counts aces once on an ace bid", () => {
    expect(revealMatches(resolution("AllDice", 1))).toEqual([[true, false, false], [true, false, false], []]);
  });
  it("agrees with the server's count in the golden resolution", () => {
    const u = scripted.resolved();
    const ev = u.events.find((e) => e.type === "Game" && e.event.type === "RoundResolved");
    if (ev?.type !== "Game" || ev.event.type !== "RoundResolved") throw new Error("no resolution");
    const res = ev.event;
    const counted = res.hands.reduce((n, hand, seat) => n + hand.filter((d) => dieMatches(res, seat, d)).length, 0);
    expect(counted).toBe(res.count);
  });
});

describe("seed verification", () => {
  const seed = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  const commitment = createHash("sha256").update(Buffer.from(seed, "hex")).digest("hex");
  it("matches a correct commitment", async () => {
    expect(await verifySeed(seed, commitment)).toBe(true);
    expect(await verifySeed(seed, commitment.toUpperCase())).toBe(true);
  });
  it("rejects a wrong commitment or a malformed seed", async () => {
    expect(await verifySeed(seed, commitment.replace(/^./, (c) => (c === "0" ? "1" : "0")))).toBe(false);
    expect(await verifySeed("abc", commitment)).toBe(false);
    expect(await verifySeed(seed.slice(2), commitment)).toBe(false);
    expect(hexToBytes("zz")).toBeNull();
  });
  it("verifies the golden game's seed against its commitment", async () => {
    const { results } = gameOver(90);
    expect(await verifySeed(results.seed, results.commitment)).toBe(true);
  });
});

describe("connection helpers", () => {
  it("backs off from 0.5 s doubling to 10 s with jitter", () => {
    expect(backoffDelay(0, () => 1)).toBe(500);
    expect(backoffDelay(1, () => 1)).toBe(1000);
    expect(backoffDelay(5, () => 1)).toBe(10_000);
    expect(backoffDelay(50, () => 1)).toBe(10_000);
    expect(backoffDelay(0, () => 0)).toBe(250);
  });
  it("builds the socket url", () => {
    expect(roomSocketUrl({ protocol: "https:", host: "x.org" }, "ABCD")).toBe("wss://x.org/api/rooms/ABCD/ws");
    expect(roomSocketUrl({ protocol: "http:", host: "localhost:8080" }, "AB")).toBe("ws://localhost:8080/api/rooms/AB/ws");
  });
});
