// Pure game helpers for the views: legal bids, reveal matches, seed verification.
import type { Face, LegalMoves, Resolution, Seat } from "./protocol/generated";

/** The faces on which a bid is legal now, with their quantity range (from `you.legal` only). */
export function legalBidOptions(legal: LegalMoves | null | undefined): Array<{ face: Face; min: number; max: number }> {
  if (!legal) return [];
  const out: Array<{ face: Face; min: number; max: number }> = [];
  legal.min_bid.forEach((min, i) => {
    if (min !== null && min <= legal.max_quantity) out.push({ face: i + 1, min, max: legal.max_quantity });
  });
  return out;
}

/** Legal quantities for one face, ascending. */
export function legalQuantities(legal: LegalMoves | null | undefined, face: Face): number[] {
  const opt = legalBidOptions(legal).find((o) => o.face === face);
  if (!opt) return [];
  const qs: number[] = [];
  for (let q = opt.min; q <= opt.max; q++) qs.push(q);
  return qs;
}

/** The smallest legal bid: the lowest quantity, on the last bid's face when it may be raised
 * there (else the first face that allows it). Null when no bid is legal. */
export function minimumRaise(legal: LegalMoves | null | undefined, lastFace: Face | null): { quantity: number; face: Face } | null {
  const options = legalBidOptions(legal);
  if (options.length === 0) return null;
  const same = options.find((o) => o.face === lastFace);
  if (same) return { quantity: same.min, face: same.face };
  const lowest = options.reduce((a, b) => (b.min < a.min ? b : a));
  return { quantity: lowest.min, face: lowest.face };
}

/** Does this die (in `seat`'s hand) count for the resolution's bid? */
export function dieMatches(res: Resolution, seat: Seat, die: Face): boolean {
  const face = res.bid.bid.face;
  if (die === face) return true;
  if (face === 1 || die !== 1) return false;
  return res.wilds === "AllDice" || (res.wilds === "BidderOnly" && seat === res.bid.seat);
}

/** Per seat, per die: whether it counted. */
export function revealMatches(res: Resolution): boolean[][] {
  return res.hands.map((hand, seat) => hand.map((die) => dieMatches(res, seat, die)));
}

export function hexToBytes(hex: string): Uint8Array<ArrayBuffer> | null {
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 of the seed (64 hex digits = 32 bytes) compared with the commitment. */
export async function verifySeed(seedHex: string, commitmentHex: string): Promise<boolean> {
  const seed = hexToBytes(seedHex.trim());
  if (!seed || seed.length !== 32) return false;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", seed));
  return bytesToHex(digest) === commitmentHex.trim().toLowerCase();
}
