// The rig's cost per result in the browser (the target: solve and
// retarget <= 2 ms per result for face + pose + hands). Feeds a recording of
// real MediaPipe results (default: the gateway-served copy of
// web/test/fixtures/gesture.msgpack) through everything the page does per
// result and per frame, without drawing: rig.js face parameters, solve,
// the body filter, the Live2D / 2D arm retarget and the VRM retarget.
// Results: window.__rigBench and the page's <pre>. Run by
// `pytest -m bench tests/test_viewer_avatars.py` (the lead's figures).
import { decode, encode } from "@msgpack/msgpack";
import { parseMessage } from "./protocol.js";
import { rigFromFace } from "./rig.js";
import { RigFilter } from "./filter.js";
import { solve } from "./solve.js";
import { StateFilter } from "./state-filter.js";
import { live2dParams, armPose } from "./retarget-live2d.js";
import { describeModel, retargetVrm } from "./retarget-vrm.js";
import { ARKIT_NAMES, PRESETS } from "./vrm-expressions.js";

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

export function runRigBench(results, rounds = 5) {
  const vrm = describeModel({ metaVersion: "1", expressionNames: [...Object.keys(PRESETS), ...ARKIT_NAMES] });
  const faceFilter = new RigFilter();
  const bodyFilter = new StateFilter();
  const times = [];
  let t = 0;
  for (let r = 0; r < rounds; r++) {
    for (const msg of results) {
      t += 40;
      const start = performance.now();
      const face = msg.faces?.[0] ?? null;
      const params = face ? faceFilter.filter(rigFromFace(face, msg.imageSize).params, t) : {};
      const state = bodyFilter.filter(solve({ face, pose: msg.poses?.[0] ?? null, hands: msg.hands ?? [], t }), t);
      live2dParams(params, state);
      armPose(state);
      retargetVrm(state, vrm);
      times.push(performance.now() - start);
    }
  }
  const warm = times.slice(results.length); // the first round warms the JIT
  const sorted = [...warm].sort((a, b) => a - b);
  return {
    results: warm.length,
    meanMs: warm.reduce((a, b) => a + b, 0) / warm.length,
    p50Ms: percentile(sorted, 0.5),
    p95Ms: percentile(sorted, 0.95),
    maxMs: sorted[sorted.length - 1],
    timerResolutionNote: "performance.now() is coarsened in browsers; mean over many results is the figure",
  };
}

async function main() {
  const q = new URLSearchParams(location.search);
  const res = await fetch(q.get("recording") || "gesture.msgpack");
  if (!res.ok) throw new Error(`recording: HTTP ${res.status}`);
  const raw = decode(new Uint8Array(await res.arrayBuffer()));
  const results = raw.results.map((r) => parseMessage(encode(r)));
  const out = runRigBench(results, Math.max(2, Number(q.get("rounds")) || 5));
  window.__rigBench = out;
  document.getElementById("out").textContent = JSON.stringify(out, null, 2);
}

if (typeof window !== "undefined" && typeof document !== "undefined") {
  main().catch((err) => {
    window.__rigBench = { error: err.message };
    document.getElementById("out").textContent = `failed: ${err.message}`;
  });
}
