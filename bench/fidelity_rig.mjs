// The viewer's JavaScript rig for the fidelity benchmark (live2d_pose/bench/fidelity.py).
//
// Reads one JSON request on stdin:
//   {"inputs": {NAME: [base64 msgpack viewer message, ...]}, "rates": [Hz, ...], "phase": 0..1,
//    "candidates": [{kind: {minCutoff, beta, dCutoff}}, ...]   (optional: --tune)}
// and writes one JSON answer on stdout:
//   {"runs": {NAME: {"t": [ms], "raw": {channel: [..]}, "filtered": {channel: [..]},
//                    "shown": {"<Hz>": {"t": [ms], "values": {channel: [..]}}}}},
//    "candidates": [{NAME: {channel: [.. per result]}}, ...]}
// Each message goes through the page's own code, wired as main.js wires it:
// protocol.js parses it; rig.js solves the face's parameters and filter.js's
// ResultSmoother smooths them once per result; body.js's BodyTracker solves
// the body state (solve.js) and smooths it (state-filter.js) once per
// result, on the same clock; retarget-live2d.js merges both (the head and
// body angles come from the body state). A simulated display draws at each
// rate. Results arrive at their own timestamps.
// Channels: the Live2D parameters, the VRM eyes as openness
// ("VRM.eyeOpenLeft" = 1 - the state's blinkLeft, the subject's left eye), and
// rig.js's KalidoKit head ("KalidoKit.ParamAngleX"...), computed but not drawn.
import { parseMessage } from "../web/src/protocol.js";
import { rigFromFace } from "../web/src/rig.js";
import { DEFAULT_TUNING, ResultSmoother } from "../web/src/filter.js";
import { solve } from "../web/src/solve.js";
import { BODY_TUNING } from "../web/src/state-filter.js";
import { BodyTracker } from "../web/src/body.js";
import { live2dParams } from "../web/src/retarget-live2d.js";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

function channels(faceParams, state) {
  return {
    ...live2dParams(faceParams, state, { mirror: true }),
    // rig.js's own head (KalidoKit's Face.solve), which live2dParams replaces with the head bone
    "KalidoKit.ParamAngleX": faceParams.ParamAngleX,
    "KalidoKit.ParamAngleY": faceParams.ParamAngleY,
    "KalidoKit.ParamAngleZ": faceParams.ParamAngleZ,
    "VRM.eyeOpenLeft": 1 - (state.expressions.blinkLeft ?? 0),
    "VRM.eyeOpenRight": 1 - (state.expressions.blinkRight ?? 0),
  };
}

/** Per result with a face: its time, the face's parameters and the solved body state. */
function solveAll(messages) {
  const out = [];
  for (const b64 of messages) {
    const msg = parseMessage(Buffer.from(b64, "base64"));
    if (!msg.faces?.length) continue;
    const t = msg.ts.ingest;
    const face = msg.faces[0];
    out.push({ msg, t, face: rigFromFace(face, msg.imageSize).params, state: solve({ face, pose: msg.poses?.[0] ?? null, hands: msg.hands ?? [], t }) });
  }
  return out;
}

/** The page's two smoothers, stepped once per result. */
class Page {
  constructor(overrides = {}) {
    const tuning = { ...DEFAULT_TUNING };
    for (const [kind, t] of Object.entries(overrides)) tuning[kind] = { ...DEFAULT_TUNING[kind], ...t }; // keeps `match`
    this.body = new BodyTracker({ tuning: Object.fromEntries(Object.keys(BODY_TUNING).map((k) => [k, tuning[k]])) });
    this.face = new ResultSmoother({ tuning, clock: this.body.clock });
    this.state = null;
  }

  result(r) {
    this.body.offer(r.msg, r.t, r.t);
    this.face.result(r.face, r.t, r.t);
    this.state = this.body.state;
  }

  frame(now) {
    return channels(this.face.frame(now), this.state);
  }
}

function columns(rows) {
  const out = {};
  for (const name of Object.keys(rows[0] ?? {})) out[name] = rows.map((r) => r[name]);
  return out;
}

/** The page at `rate` Hz: results reach the smoothers when they arrive, frames draw what they hold. */
function display(results, rate, phase) {
  const page = new Page();
  const period = 1000 / rate;
  const t0 = results[0].t;
  const tEnd = results[results.length - 1].t + period;
  const times = [];
  const shown = [];
  let next = 0;
  // the same grid as display_grid() in fidelity_rigs.py, float for float
  for (let j = 0, now = t0 + phase * period; now <= tEnd; j += 1, now = t0 + (phase + j) * period) {
    while (next < results.length && results[next].t <= now) page.result(results[next++]);
    times.push(now);
    shown.push(page.frame(now));
  }
  return { t: times, values: columns(shown) };
}

function perResult(results, overrides = {}) {
  const page = new Page(overrides);
  return results.map((r) => {
    page.result(r);
    return page.frame(r.t);
  });
}

const request = await readStdin();
const solved = Object.fromEntries(Object.entries(request.inputs).map(([name, m]) => [name, solveAll(m)]));
const answer = { runs: {}, candidates: [] };
for (const [name, results] of Object.entries(solved)) {
  if (!results.length) throw new Error(`${name}: no face in any result`);
  const shown = {};
  for (const rate of request.rates) shown[String(rate)] = display(results, rate, request.phase ?? 0.37);
  answer.runs[name] = {
    t: results.map((r) => r.t),
    raw: columns(results.map((r) => channels(r.face, r.state))),
    filtered: columns(perResult(results)),
    shown,
  };
}
const wanted = request.channels ?? null;
for (const overrides of request.candidates ?? []) {
  const one = {};
  for (const [name, results] of Object.entries(solved)) {
    const cols = columns(perResult(results, overrides));
    one[name] = wanted ? Object.fromEntries(wanted.map((c) => [c, cols[c]])) : cols;
  }
  answer.candidates.push(one);
}
process.stdout.write(JSON.stringify(answer));
