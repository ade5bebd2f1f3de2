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
 * A recording made by `python -m live2d_pose.testing.record` (fixtures/NAME.msgpack),
 * each result parsed by the page's own protocol.js.
 */
export function recording(name = "gesture") {
  const rec = decode(readFileSync(new URL(`./fixtures/${name}.msgpack`, import.meta.url)));
  return { ...rec, results: rec.results.map((r) => parseMessage(encode(r))) };
}

const TRACKER_KEYS = { face: "faces", pose: "poses", hands: "hands" };

/**
 * Parsed results (one message per frame, every tracker) as the live pipeline
 * sends them: one message per tracker per frame, in `order`; with `late`,
 * that tracker's message for frame N comes after the other trackers' for
 * frame N+1 (a slow lane). The twin of live2d_pose.testing.record.per_tracker.
 */
export function perTracker(results, order = ["face", "pose", "hands"], late = null) {
  const out = [];
  let held = null;
  for (const r of results) {
    let lateMessage = null;
    for (const tracker of order.filter((t) => r.tracks.includes(t))) {
      const message = { ...r, tracks: [tracker], faces: null, poses: null, hands: null, [TRACKER_KEYS[tracker]]: r[TRACKER_KEYS[tracker]] ?? [] };
      if (tracker === late) lateMessage = message;
      else out.push(message);
    }
    if (held) out.push(held);
    held = lateMessage;
  }
  if (held) out.push(held);
  return out;
}

/** The solve input of one parsed result that carries every tracker. */
export function solveInput(msg) {
  return { face: msg.faces?.[0] ?? null, pose: msg.poses?.[0] ?? null, hands: msg.hands ?? [], t: msg.ts.ingest ?? 0 };
}

/**
 * The smoothing's own lag in ms, as the fidelity benchmark measures it
 * (bench/fidelity_metrics.py, lag_ms): the cross-correlation peak of what is
 * shown against the motion (the results joined by straight lines, 1 ms grid,
 * both blurred by a centred Gaussian of 60 ms, the reference over a fixed
 * window), minus the same for the unfiltered rig drawn on the same frames.
 * results: [{t, params}]; grid: display frame times; shown: params per frame.
 */
export function smoothingLagMs(results, grid, shown, channels) {
  const LO = 100, HI = 300, SIGMA = 60; // lags -100..300 ms
  const t = results.map((r) => r.t);
  const start = grid[0];
  const n = Math.floor(grid[grid.length - 1] - start);
  const latest = (times, time) => {
    let lo = 0, hi = times.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (times[mid] <= time) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const half = 4 * SIGMA;
  const kernel = Array.from({ length: 2 * half + 1 }, (_, i) => Math.exp(-0.5 * ((i - half) / SIGMA) ** 2));
  const ksum = kernel.reduce((a, b) => a + b);
  const blur = (x) => Float64Array.from(x, (_, m) => {
    let acc = 0;
    for (let i = -half; i <= half; i++) acc += kernel[i + half] * x[Math.min(n - 1, Math.max(0, m + i))];
    return acc / ksum;
  });
  const frameAt = Array.from({ length: n }, (_, m) => latest(grid, start + m));
  const motion = {};
  for (const ch of channels) {
    motion[ch] = blur(Float64Array.from({ length: n }, (_, m) => {
      const time = start + m;
      const k = latest(t, time);
      const a = results[k], b = results[Math.min(k + 1, results.length - 1)];
      return b.t > a.t ? a.params[ch] + ((b.params[ch] - a.params[ch]) * (time - a.t)) / (b.t - a.t) : a.params[ch];
    }));
  }
  const peak = (signalOf) => {
    const c = new Float64Array(LO + HI + 1);
    for (const ch of channels) {
      const ref = motion[ch];
      const sig = blur(Float64Array.from({ length: n }, (_, m) => signalOf(m, ch)));
      let mr = 0;
      for (let m = LO; m < n - HI; m++) mr += ref[m];
      mr /= n - HI - LO;
      const ms = sig.reduce((a, b) => a + b, 0) / n;
      for (let lag = -LO; lag <= HI; lag++) {
        let acc = 0;
        for (let m = LO; m < n - HI; m++) acc += (ref[m] - mr) * (sig[m + lag] - ms);
        c[lag + LO] += acc;
      }
    }
    let k = 0;
    for (let i = 1; i < c.length; i++) if (c[i] > c[k]) k = i;
    const denom = k > 0 && k < c.length - 1 ? c[k - 1] - 2 * c[k] + c[k + 1] : 0;
    return k - LO + (denom < 0 ? (0.5 * (c[k - 1] - c[k + 1])) / denom : 0);
  };
  const shownLag = peak((m, ch) => shown[frameAt[m]][ch]);
  const rawLag = peak((m, ch) => results[latest(t, grid[frameAt[m]])].params[ch]);
  return shownLag - rawLag;
}
