import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeServer } from "../src/codec";
import type { ServerMessage } from "../src/protocol/generated";

const dir = join(__dirname, "..", "..", "protocol", "tests", "golden");

/** A golden server message, decoded from its .msgpack file. */
export function golden<T extends ServerMessage["type"]>(name: string, type: T): Extract<ServerMessage, { type: T }> {
  const msg = decodeServer(new Uint8Array(readFileSync(join(dir, `${name}.msgpack`))));
  if (msg.type !== type) throw new Error(`${name} is a ${msg.type}, not ${type}`);
  return structuredClone(msg) as Extract<ServerMessage, { type: T }>;
}
