// Shared test helpers: load the real MediaPipe fixtures (web/tools/make_fixtures.py).
import { readFileSync } from "node:fs";
import { decode, encode } from "@msgpack/msgpack";
import { parseMessage } from "../src/protocol.js";

export function fixture(name) {
  const f = JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url)));
  return {
    ...f,
    face: { landmarks: Float32Array.from(f.landmarks.flat()), blendshapes: Float32Array.from(f.blendshapes), matrix: Float32Array.from(f.matrix) },
  };
}

/**
 * Turn the head about the vertical axis by `deg` (positive: the nose moves
 * toward the image's right, i.e. the subject turns to their own left), in
 * pixel space so the aspect ratio is respected. z shares x's scale in MediaPipe.
 */
export function yawLandmarks(landmarks, deg, { width, height }) {
  const n = landmarks.length / 3;
  const c = [0, 0, 0];
  for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) c[k] += landmarks[3 * i + k] / n;
  const a = (deg * Math.PI) / 180;
  const out = new Float32Array(landmarks.length);
  for (let i = 0; i < n; i++) {
    const x = (landmarks[3 * i] - c[0]) * width;
    const z = (landmarks[3 * i + 2] - c[2]) * width;
    out[3 * i] = (x * Math.cos(a) - z * Math.sin(a)) / width + c[0];
    out[3 * i + 1] = landmarks[3 * i + 1];
    out[3 * i + 2] = (x * Math.sin(a) + z * Math.cos(a)) / width + c[2];
  }
  return out;
}

/**
 * A recording of real MediaPipe results (live2d_pose.testing.record), each
 * result parsed by protocol.parseMessage exactly as the page parses /ws.
 */
export function recording(name = "gesture") {
  const raw = decode(readFileSync(new URL(`./fixtures/${name}.msgpack`, import.meta.url)));
  return { ...raw, results: raw.results.map((r) => parseMessage(encode(r))) };
}

/** The solve input of one parsed result that carries every tracker. */
export function solveInput(msg) {
  return { face: msg.faces?.[0] ?? null, pose: msg.poses?.[0] ?? null, hands: msg.hands ?? [], t: msg.ts.ingest ?? 0 };
}
