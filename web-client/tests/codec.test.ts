import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { clientMessage, decodeClient, decodeServer, encodeClient, FrameError } from "../src/codec";
import type { ClientMessage, Request } from "../src/protocol/generated";
import { MAX_SERVER_FRAME } from "../src/protocol/generated";

const dir = join(__dirname, "..", "..", "protocol", "tests", "golden");
interface Vector {
  file: string;
  direction: "client" | "server";
  description: string;
  json: unknown;
}
const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { vectors: Vector[] };

/**
 * Rebuild a request with its keys in the Rust declaration order: rmp_serde writes the
 * internally-tagged "type" first, then the fields in declaration order. index.json has
 * its keys sorted, so building from it needs this order explicitly. Nested structs
 * (GameConfig, Action) are re-ordered the same way.
 */
const CONFIG_ORDER = [
  "starting_dice", "min_players", "max_players", "first_round_opener", "aces_wild", "wild_scope",
  "opening_aces_allowed", "raise_rule", "ace_conversion", "bid_quantity_cap", "opener_after_dudo",
  "calza_enabled", "calza_caller", "calza_success", "calza_requires_missing_die", "calza_once_per_game",
  "opener_after_calza", "palifico_enabled", "palifico_trigger", "palifico_min_players",
  "palifico_face_locked", "palifico_one_die_may_change_face", "palifico_opening_aces_allowed",
  "dudo_caller", "dice_lost_on_dudo", "turn_time_limit_secs",
];
const REQUEST_ORDER: Record<string, string[]> = {
  Hello: ["version"], Join: ["name"], Claim: ["token"], Resume: ["token", "last_version"],
  Spectate: [], SetRules: ["rules"], SetOptions: ["options"], AddBot: ["level"], Kick: ["seat"],
  TransferHost: ["seat"], Start: [], Act: ["action"], Leave: [], Emote: ["emote"],
};
function ordered(obj: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (k in obj) out[k] = obj[k];
  expect(Object.keys(out).length).toBe(Object.keys(obj).length);
  return out;
}
function orderRequest(req: Record<string, unknown>): Request {
  const type = req.type as string;
  const out = ordered(req, ["type", ...(REQUEST_ORDER[type] ?? [])]);
  if (type === "SetRules") {
    const rules = ordered(req.rules as Record<string, unknown>, CONFIG_ORDER);
    const fo = rules.first_round_opener as Record<string, unknown>;
    rules.first_round_opener = ordered(fo, ["kind", "seat"]);
    out.rules = rules;
  }
  if (type === "Act") {
    out.action = ordered(req.action as Record<string, unknown>, ["type", "quantity", "face"]);
  }
  return out as unknown as Request;
}

describe("golden vectors", () => {
  it("covers every file", () => {
    expect(index.vectors.length).toBeGreaterThan(30);
  });
  for (const v of index.vectors) {
    const bytes = new Uint8Array(readFileSync(join(dir, v.file)));
    if (v.direction === "server") {
      it(`decodes ${v.file}`, () => {
        expect(decodeServer(bytes)).toEqual(v.json);
      });
    } else {
      it(`decodes and re-encodes ${v.file} byte for byte`, () => {
        const decoded = decodeClient(bytes);
        expect(decoded).toEqual(v.json);
        // Re-encoding the decoded value (wire key order) gives the same bytes.
        expect(Array.from(encodeClient(decoded))).toEqual(Array.from(bytes));
        // Building the message ourselves in declaration order gives the same bytes too.
        const json = v.json as { id: number; request: Record<string, unknown> };
        const built: ClientMessage = clientMessage(json.id, orderRequest(json.request));
        expect(Array.from(encodeClient(built))).toEqual(Array.from(bytes));
      });
    }
  }
});

describe("decodeServer", () => {
  it("refuses frames over the cap", () => {
    expect(() => decodeServer(new Uint8Array(MAX_SERVER_FRAME + 1))).toThrow(FrameError);
  });
  it("refuses non-messages", () => {
    expect(() => decodeServer(new Uint8Array([0x01]))).toThrow(FrameError);
  });
});
