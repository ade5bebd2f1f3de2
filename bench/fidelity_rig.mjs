// The viewer's JavaScript rig for the fidelity benchmark (live2d_pose/bench/fidelity.py).
//
// Reads one JSON request on stdin:
//   {"inputs": {NAME: [base64 msgpack viewer message, ...]}, "rates": [Hz, ...], "phase": 0..1}
// and writes one JSON answer on stdout:
//   {NAME: {"t": [ms], "raw": {param: [..]}, "filtered": {param: [..]},
//           "shown": {"<Hz>": {"t": [ms], "values": {param: [..]}}}}}
// Each message goes through the page's own code: protocol.js parses it,
// rig.js solves it, and filter.js's ResultSmoother smooths it once per result
// while a simulated display draws at each rate, as main.js does. Results
// arrive at their own timestamps (no network in between).
import { parseMessage } from "../web/src/protocol.js";
import { rigFromFace } from "../web/src/rig.js";
import { RigFilter, ResultSmoother } from "../web/src/filter.js";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

function solve(messages) {
  const t = [];
  const raw = [];
  for (const b64 of messages) {
    const msg = parseMessage(Buffer.from(b64, "base64"));
    if (!msg.faces.length) continue;
    t.push(msg.ts.ingest);
    raw.push(rigFromFace(msg.faces[0], msg.imageSize).params);
  }
  return { t, raw };
}

function columns(rows) {
  const out = {};
  for (const name of Object.keys(rows[0] ?? {})) out[name] = rows.map((r) => r[name]);
  return out;
}

/** The page at `rate` Hz: results reach the smoother when they arrive, frames draw what it holds. */
function display(t, raw, rate, phase) {
  const smoother = new ResultSmoother();
  const period = 1000 / rate;
  const times = [];
  const shown = [];
  let next = 0;
  // the same grid as display_grid() in fidelity_rigs.py, float for float
  for (let j = 0, now = t[0] + phase * period; now <= t[t.length - 1] + period; j += 1, now = t[0] + (phase + j) * period) {
    while (next < t.length && t[next] <= now) {
      smoother.result(raw[next], t[next], t[next]);
      next += 1;
    }
    times.push(now);
    shown.push(smoother.frame(now));
  }
  return { t: times, values: columns(shown) };
}

const request = await readStdin();
const answer = {};
for (const [name, messages] of Object.entries(request.inputs)) {
  const { t, raw } = solve(messages);
  if (!t.length) throw new Error(`${name}: no face in any result`);
  const filter = new RigFilter();
  const filtered = raw.map((params, i) => filter.filter(params, t[i]));
  const shown = {};
  for (const rate of request.rates) shown[String(rate)] = display(t, raw, rate, request.phase ?? 0.37);
  answer[name] = { t, raw: columns(raw), filtered: columns(filtered), shown };
}
process.stdout.write(JSON.stringify(answer));
