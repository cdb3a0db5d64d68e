#!/usr/bin/env node
// An independent check of a perudo game record, written from docs/FAIRPLAY.md alone: it
// uses none of perudo's code, only Node's built-in OpenSSL (ChaCha20 and SHA-256).
//
//   node tools/verify-record.mjs record.json
//   node tools/verify-record.mjs https://perudo.example/api/rooms/ABCDE/games/1
//   curl -s .../games/1 | node tools/verify-record.mjs -
//
// It checks that SHA-256 of the seed is the commitment published at the start, that the
// rounds are numbered 0, 1, 2, ... and each seat's dice count follows from the last round's
// end, that every round's dice are exactly what the seed rolls, that the first opener is the
// seed's draw (when the rules draw it), and that each called bid was counted right. The
// rules themselves (who may bid what) are `perudo verify`'s job: it replays every move.
//
// Exit status: 0 the record checks out, 1 it does not (each problem is printed), 2 it could
// not be read at all.

import { createCipheriv, createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

/** The record format this script knows (format 1 records list no dice). */
const FORMAT = 2;
/** The ChaCha20 stream of the first opener's draw: 2^64 - 1. Round r uses stream r. */
const OPENER_STREAM = (1n << 64n) - 1n;
const TWO_32 = 2 ** 32;

/**
 * The ChaCha20 keystream of `key` (the 32 seed bytes) on `stream`, from block 0, as
 * little-endian 32-bit words. OpenSSL's 16-byte "IV" for chacha20 is state words 12..15:
 * words 12 and 13 are the 64-bit block counter (0), words 14 and 15 the 64-bit stream, all
 * little-endian.
 */
export function keystreamWords(key, stream) {
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64LE(0n, 0);
  iv.writeBigUInt64LE(BigInt.asUintN(64, BigInt(stream)), 8);
  const cipher = createCipheriv('chacha20', key, iv);
  let block = Buffer.alloc(0);
  let at = 0;
  return () => {
    if (at === block.length) {
      // Encrypting zeros gives the keystream itself.
      block = cipher.update(Buffer.alloc(256));
      at = 0;
    }
    const word = block.readUInt32LE(at);
    at += 4;
    return word;
  };
}

/**
 * A uniform draw from 0..n-1 (Canon's method): the word read as the fraction w / 2^32,
 * times n; the integer part is the draw. Only when the fraction part is within n / 2^32 of
 * the next integer can later words carry into it, and only then are more words read.
 */
export function below(nextWord, n) {
  const product = nextWord() * n; // < 2^36: exact in a double
  let result = Math.floor(product / TWO_32);
  let lo = product - result * TWO_32;
  while (lo > TWO_32 - n) {
    const next = nextWord() * n;
    const nextHi = Math.floor(next / TWO_32);
    const sum = lo + nextHi;
    if (sum >= TWO_32) {
      result += 1; // the carry happened
      break;
    }
    if (sum < TWO_32 - 1) break; // no later word can carry now
    lo = next - nextHi * TWO_32; // exactly 2^32 - 1: the next word decides
  }
  return result;
}

/** The hands the seed rolls in round `round` for `counts[seat]` dice per seat, sorted. */
export function rollRound(seed, round, counts) {
  const next = keystreamWords(seed, BigInt(round));
  return counts.map((count) => {
    const hand = [];
    for (let i = 0; i < count; i += 1) hand.push(below(next, 6) + 1);
    return hand.sort((a, b) => a - b);
  });
}

/** The first opener the seed draws among `seats` seats. */
export function firstOpener(seed, seats) {
  return below(keystreamWords(seed, OPENER_STREAM), seats);
}

/** Dice in `hands` that match `bid` under `wilds` (aces count once when the bid is on aces). */
export function countMatches(hands, placed, wilds) {
  const face = placed.bid.face;
  return hands.reduce((sum, hand, seat) => {
    const acesWild =
      face !== 1 && (wilds === 'AllDice' || (wilds === 'BidderOnly' && seat === placed.seat));
    return sum + hand.filter((d) => d === face || (acesWild && d === 1)).length;
  }, 0);
}

const HEX64 = /^[0-9a-f]{64}$/;
const show = (hand) => `[${hand.join(', ')}]`;
const isSeat = (value, seats) => Number.isInteger(value) && value >= 0 && value < seats;

/** Every problem with `record`, in order; an empty list means it checks out. */
export function verifyRecord(record) {
  const problems = [];
  const fail = (message) => problems.push(message);
  if (typeof record !== 'object' || record === null) return ['the record is not a JSON object'];
  if (record.format !== FORMAT) {
    return [
      record.format === 1
        ? 'this is a format 1 record: it lists no dice (perudo verify can still replay it)'
        : `unknown record format ${JSON.stringify(record.format)} (this script reads format ${FORMAT})`,
    ];
  }
  // 1. The commitment.
  const { seed: seedHex, commitment } = record;
  if (typeof seedHex !== 'string' || !HEX64.test(seedHex)) {
    return ['the seed is not 64 lowercase hex digits'];
  }
  if (typeof commitment !== 'string' || !HEX64.test(commitment)) {
    return ['the commitment is not 64 lowercase hex digits'];
  }
  const seed = Buffer.from(seedHex, 'hex');
  const hash = createHash('sha256').update(seed).digest('hex');
  if (hash !== commitment) {
    fail(`SHA-256 of the seed is ${hash}, not the published commitment ${commitment}`);
  }
  const results = record.results ?? {};
  if (results.commitment !== commitment) fail('the results name another commitment');
  if (results.seed !== seedHex) fail('the results name another seed');

  // 2. The shape: seats, rounds numbered from 0.
  const seats = Array.isArray(record.names) ? record.names.length : 0;
  const startingDice = record.config?.starting_dice;
  if (seats < 2) return [...problems, 'the record names fewer than two players'];
  if (!Number.isInteger(startingDice) || startingDice < 1) {
    return [...problems, 'the record has no starting_dice in its config'];
  }
  const rounds = record.rounds;
  if (!Array.isArray(rounds) || rounds.length === 0) return [...problems, 'the record lists no rounds'];
  if (results.rounds !== rounds.length) {
    fail(`the results count ${results.rounds} rounds, the record lists ${rounds.length}`);
  }

  // 3. Each round: its number, its dice counts, its dice, its count.
  let counts = new Array(seats).fill(startingDice);
  for (const [index, entry] of rounds.entries()) {
    const where = `round ${index}`;
    if (entry?.round !== index) {
      fail(`entry ${index} is round ${JSON.stringify(entry?.round)}: rounds must be 0, 1, 2, ...`);
      break;
    }
    const hands = entry.hands;
    if (!Array.isArray(hands) || hands.length !== seats || !hands.every(Array.isArray)) {
      fail(`${where}: not one hand per seat (${seats} seats)`);
      break;
    }
    hands.forEach((hand, seat) => {
      if (hand.length !== counts[seat]) {
        fail(`${where}, seat ${seat}: ${hand.length} dice recorded, the game says ${counts[seat]}`);
      }
    });
    const rolled = rollRound(seed, index, counts);
    rolled.forEach((want, seat) => {
      if (show(hands[seat]) !== show(want)) {
        fail(`${where}, seat ${seat}: recorded ${show(hands[seat])}, the seed rolls ${show(want)}`);
      }
    });
    if (index === 0 && record.config.first_round_opener?.kind === 'SeededRandom') {
      const drawn = firstOpener(seed, seats);
      if (entry.opener !== drawn) {
        fail(`round 0: recorded opener seat ${entry.opener}, the seed draws seat ${drawn}`);
      }
    }
    // The next round's dice counts follow from how this one ended.
    const end = entry.end ?? {};
    const next = [...counts];
    if (end.by === 'Call') {
      const { bid } = end;
      if (!isSeat(bid?.seat, seats) || !Number.isInteger(bid?.bid?.face)) {
        fail(`${where}: the called bid is not a bid`);
        break;
      }
      const counted = countMatches(rolled, bid, end.wilds);
      if (end.count !== counted) {
        fail(`${where}: ${end.count} dice recorded as matching the bid, the dice show ${counted}`);
      }
      if (end.call?.type === 'Dudo') {
        // A dudo always costs exactly one die: the bidder's if the bid was false.
        const loser = counted < bid.bid.quantity ? bid.seat : end.call.challenger;
        const lost = end.changes?.find((c) => c.seat === loser);
        if (end.changes?.length !== 1 || !lost || lost.after !== lost.before - 1) {
          fail(`${where}: after the dudo seat ${loser} loses one die, and no one else any`);
        }
      }
      for (const change of end.changes ?? []) {
        if (!isSeat(change.seat, seats) || change.before !== counts[change.seat]) {
          fail(`${where}: a change of seat ${change.seat} does not start from its ${counts[change.seat]} dice`);
          continue;
        }
        next[change.seat] = change.after;
      }
    } else if (end.by === 'Forfeit') {
      if (!isSeat(end.seat, seats) || counts[end.seat] === 0) {
        fail(`${where}: seat ${end.seat} forfeited without dice in the game`);
      } else {
        next[end.seat] = 0;
      }
    } else {
      fail(`${where}: no end recorded`);
      break;
    }
    counts = next;
  }

  // 4. The last round left one player: the winner.
  const left = counts.flatMap((count, seat) => (count > 0 ? [seat] : []));
  if (problems.length === 0 && (left.length !== 1 || left[0] !== results.winner)) {
    fail(`after the last round seats [${left.join(', ')}] have dice, the recorded winner is seat ${results.winner}`);
  }
  return problems;
}

async function readRecord(source) {
  if (/^https?:\/\//.test(source)) {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`${source} answered ${response.status}: ${await response.text()}`);
    return response.text();
  }
  if (source === '-') {
    const chunks = [];
    for await (const chunk of process.stdin) chunks.push(chunk);
    return Buffer.concat(chunks).toString('utf8');
  }
  return readFile(source, 'utf8');
}

async function main(args) {
  if (args.length !== 1 || args[0] === '--help' || args[0] === '-h') {
    console.error('usage: node tools/verify-record.mjs <record.json | URL | ->');
    return 2;
  }
  let record;
  try {
    record = JSON.parse(await readRecord(args[0]));
  } catch (error) {
    console.error(`cannot read a game record from ${args[0]}: ${error.message}`);
    return 2;
  }
  const problems = verifyRecord(record);
  const name = `room ${record?.room ?? "?"} game ${record?.game ?? "?"}`;
  if (problems.length > 0) {
    console.error(`FAIL: ${name}: the record does not check out:`);
    const shown = 20; // a wrong seed breaks every round: the first few say enough
    for (const problem of problems.slice(0, shown)) console.error(`  - ${problem}`);
    if (problems.length > shown) console.error(`  - and ${problems.length - shown} more`);
    return 1;
  }
  const dice = record.rounds.reduce((sum, r) => sum + r.hands.flat().length, 0);
  console.log(
    `ok: ${name}: SHA-256 of the seed is the commitment ${record.commitment}; ` +
      `all ${dice} dice of ${record.rounds.length} rounds are what the seed rolls (ChaCha20, docs/FAIRPLAY.md), ` +
      `every called bid was counted right, and seat ${record.results.winner} won`,
  );
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
