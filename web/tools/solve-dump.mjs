// The reference output of SOLVE for a recording, for the Python port's
// agreement test (docs/rig.md "Agreement"): one unfiltered, unmirrored body
// state per result, as JSON.
//
//   node tools/solve-dump.mjs test/fixtures/gesture.msgpack > gesture.states.json
import { readFileSync } from "node:fs";
import { decode, encode } from "@msgpack/msgpack";
import { parseMessage } from "../src/protocol.js";
import { solve } from "../src/solve.js";

export function solveRecording(bytes) {
  const raw = decode(bytes);
  return raw.results.map((r) => {
    const msg = parseMessage(encode(r));
    return solve({ face: msg.faces?.[0] ?? null, pose: msg.poses?.[0] ?? null, hands: msg.hands ?? [], t: msg.ts.ingest ?? 0 });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = process.argv[2];
  if (!path) {
    console.error("usage: node tools/solve-dump.mjs RECORDING.msgpack > OUT.json");
    process.exit(2);
  }
  process.stdout.write(JSON.stringify({ source: path, states: solveRecording(readFileSync(path)) }) + "\n");
}
