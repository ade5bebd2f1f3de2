// Which head source is steadier on a real recording: the facial
// transformation matrix (solve.js) or KalidoKit's Face.solve head (rig.js)?
// Counts jitter events: frames where an angle (yaw, pitch, roll) reverses
// direction with a second difference above THRESHOLD_DEG. A count, not a
// timing (docs/rig.md "Head source").
//
//   node tools/head-jitter.mjs [recording name, default gesture]
import { readFileSync } from "node:fs";
import { decode, encode } from "@msgpack/msgpack";
import { parseMessage } from "../src/protocol.js";
import { headRotation } from "../src/solve.js";
import { toYawPitchRoll } from "../src/quat.js";
import { solveFace } from "../src/rig.js";

const THRESHOLD_DEG = 0.5;

export function jitterCount(series) {
  let n = 0;
  for (let i = 2; i < series.length; i++) {
    const d1 = series[i - 1] - series[i - 2];
    const d2 = series[i] - series[i - 1];
    if (Math.sign(d1) !== Math.sign(d2) && Math.abs(d2 - d1) > THRESHOLD_DEG) n += 1;
  }
  return n;
}

export function headSeries(results) {
  const matrix = { yaw: [], pitch: [], roll: [] };
  const kalido = { yaw: [], pitch: [], roll: [] };
  for (const msg of results) {
    const face = msg.faces?.[0];
    if (!face?.matrix) continue;
    const m = toYawPitchRoll(headRotation(face.matrix));
    const k = solveFace(face.landmarks, msg.imageSize)?.head?.degrees;
    if (!k) continue;
    // KalidoKit: x pitch, y yaw, z roll, in degrees
    matrix.yaw.push(m.yaw); matrix.pitch.push(m.pitch); matrix.roll.push(m.roll);
    kalido.yaw.push(k.y); kalido.pitch.push(k.x); kalido.roll.push(k.z);
  }
  return { matrix, kalido };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const name = process.argv[2] ?? "gesture";
  const raw = decode(readFileSync(new URL(`../test/fixtures/${name}.msgpack`, import.meta.url)));
  const results = raw.results.map((r) => parseMessage(encode(r)));
  const { matrix, kalido } = headSeries(results);
  const row = (label, s) => {
    const c = ["yaw", "pitch", "roll"].map((a) => jitterCount(s[a]));
    console.log(`| ${label} | ${c[0]} | ${c[1]} | ${c[2]} | ${c[0] + c[1] + c[2]} |`);
  };
  console.log(`${name}: ${matrix.yaw.length} faces; jitter events (direction reversals with |second difference| > ${THRESHOLD_DEG} deg)`);
  console.log("| source | yaw | pitch | roll | total |\n| --- | --- | --- | --- | --- |");
  row("facial matrix", matrix);
  row("KalidoKit head", kalido);
}
