import { test } from "node:test";
import assert from "node:assert/strict";
import { OneEuroFilter, RigFilter, ResultClock, ResultSmoother, channelKind, DEFAULT_TUNING } from "../src/filter.js";
import { rigFromFace } from "../src/rig.js";
import { recording, smoothingLagMs } from "./helpers.js";

const DT = 1000 / 30; // 30 samples/s

test("a still input stays exactly still", () => {
  const f = new OneEuroFilter({ minCutoff: 1, beta: 0.05 });
  for (let i = 0; i < 100; i++) assert.equal(f.filter(12.5, i * DT), 12.5);
});

test("a step is followed: half way within 5 samples, within 2 % after 30, no overshoot", () => {
  const f = new OneEuroFilter({ minCutoff: 1.2, beta: 0.03 });
  for (let i = 0; i < 30; i++) f.filter(0, i * DT);
  const out = [];
  for (let i = 30; i < 60; i++) out.push(f.filter(20, i * DT));
  assert.ok(out[0] > 0 && out[0] < 20, `first sample after the step is smoothed, got ${out[0]}`);
  assert.ok(out[4] > 10, `half way within 5 samples, got ${out[4]}`);
  assert.ok(Math.abs(out[29] - 20) < 0.4, `settled after 30 samples, got ${out[29]}`);
  for (let i = 1; i < out.length; i++) assert.ok(out[i] >= out[i - 1] - 1e-9, "no overshoot / ringing");
});

test("beta makes a fast move lag less than with beta = 0", () => {
  const slow = new OneEuroFilter({ minCutoff: 1, beta: 0 });
  const fast = new OneEuroFilter({ minCutoff: 1, beta: 0.1 });
  let a, b;
  for (let i = 0; i < 20; i++) {
    const v = i * 3; // 90 deg/s ramp
    a = slow.filter(v, i * DT);
    b = fast.filter(v, i * DT);
  }
  const target = 19 * 3;
  assert.ok(target - b < (target - a) / 2, `adaptive lag ${target - b} vs fixed lag ${target - a}`);
});

test("jitter around a still value is reduced", () => {
  const f = new OneEuroFilter({ minCutoff: 1, beta: 0.01 });
  let seed = 1;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
  let rawVar = 0;
  let outVar = 0;
  for (let i = 0; i < 300; i++) {
    const raw = 5 + rand() * 2;
    const out = f.filter(raw, i * DT);
    if (i > 30) {
      rawVar += (raw - 5) ** 2;
      outVar += (out - 5) ** 2;
    }
  }
  assert.ok(outVar < rawVar / 4, `variance ${outVar.toFixed(2)} vs raw ${rawVar.toFixed(2)}`);
});

// Casiez's reference implementation (the 1€ filter's Python reference,
// OneEuroFilter.__call__): the speed is (x - previous RAW x) * rate, filtered
// at dcutoff; the cutoff is mincutoff + beta * |speed|.
function casiezReference(samples, { minCutoff, beta, dCutoff }) {
  const alpha = (cutoff, rate) => 1 / (1 + (1 / (2 * Math.PI * cutoff)) * rate);
  const out = [];
  let prevRaw = null, x = null, dx = 0, last = null;
  for (const [value, tMs] of samples) {
    if (x === null) {
      x = prevRaw = value;
      last = tMs;
      out.push(x);
      continue;
    }
    const rate = 1000 / (tMs - last);
    last = tMs;
    const rawDx = (value - prevRaw) * rate;
    prevRaw = value;
    dx = dx + alpha(dCutoff, rate) * (rawDx - dx);
    x = x + alpha(minCutoff + beta * Math.abs(dx), rate) * (value - x);
    out.push(x);
  }
  return out;
}

test("the speed comes from the previous raw sample, as in Casiez's reference", () => {
  const tuning = { minCutoff: 1.5, beta: 0.4, dCutoff: 2 };
  // a head turn and back, sampled unevenly (25-35 ms), with a little noise
  const samples = [];
  let t = 0;
  for (let i = 0; i < 80; i++) {
    t += 25 + ((i * 7) % 11);
    samples.push([20 * Math.sin(i / 9) + ((i * 13) % 5) * 0.1, t]);
  }
  const f = new OneEuroFilter(tuning);
  const expected = casiezReference(samples, tuning);
  samples.forEach(([v, tMs], i) => {
    const got = f.filter(v, tMs);
    assert.ok(Math.abs(got - expected[i]) < 1e-9, `sample ${i}: ${got} vs reference ${expected[i]}`);
  });
});

test("a second sample at the same instant replaces the last one; an older one or a non-finite value changes nothing", () => {
  const f = new OneEuroFilter({ minCutoff: 1, beta: 0.1 });
  f.filter(1, 100);
  const y = f.filter(2, 133);
  const replaced = f.filter(50, 133);
  const direct = new OneEuroFilter({ minCutoff: 1, beta: 0.1 });
  direct.filter(1, 100);
  assert.equal(replaced, direct.filter(50, 133), "the same instant: as if 50 had come instead of 2");
  assert.notEqual(replaced, y);
  assert.equal(f.filter(2, 133), y, "replaced again: back to the first value's output");
  assert.equal(f.filter(50, 120), y, "clock step back");
  assert.equal(f.filter(NaN, 166), y);
  assert.equal(f.filter(3, NaN), y);
  const plain = new OneEuroFilter({ minCutoff: 1, beta: 0.1 });
  plain.filter(1, 100);
  plain.filter(2, 133);
  assert.equal(f.filter(2, 166), plain.filter(2, 166), "after replacements it goes on as if only the last value had come");
  const first = new OneEuroFilter();
  first.filter(5, 0);
  assert.equal(first.filter(7, 0), 7, "replacing the first sample starts over from the new one");
});

test("channel kinds come from the shared tuning file; a new kind is one entry", () => {
  assert.equal(channelKind("ParamAngleX"), "angle");
  assert.equal(channelKind("ParamBodyAngleZ"), "body");
  assert.equal(channelKind("ParamEyeLOpen"), "eye");
  assert.equal(channelKind("ParamEyeBallY"), "eyeBall");
  assert.equal(channelKind("ParamMouthForm"), "mouth");
  assert.equal(channelKind("ParamBrowLY"), "brow");
  assert.equal(channelKind("ParamCheek"), "other");
  for (const t of Object.values(DEFAULT_TUNING)) {
    assert.ok(t.minCutoff > 0 && t.beta >= 0 && t.dCutoff > 0, JSON.stringify(t));
  }
  const tuning = { ...DEFAULT_TUNING, finger: { match: "^finger\\.", minCutoff: 9, beta: 0, dCutoff: 1 } };
  assert.equal(channelKind("finger.indexProximal", tuning), "finger");
  const rf = new RigFilter({ tuning });
  rf.filter({ "finger.indexProximal": 0 }, 0);
  const fast = rf.filter({ "finger.indexProximal": 1 }, DT)["finger.indexProximal"];
  const dflt = new RigFilter({ tuning });
  dflt.filter({ other: 0 }, 0);
  assert.ok(fast > dflt.filter({ other: 1 }, DT).other, "the new kind's tuning is used");
});

test("RigFilter: one filter per channel, scaled by the page's multipliers", () => {
  const smooth = new RigFilter({ scale: { minCutoff: 0.2, beta: 1 } });
  smooth.filter({ ParamAngleX: 0 }, 0);
  const s = smooth.filter({ ParamAngleX: 10 }, DT).ParamAngleX;
  const n = new RigFilter();
  n.filter({ ParamAngleX: 0, ParamEyeLOpen: 1 }, 0);
  const out = n.filter({ ParamAngleX: 10, ParamEyeLOpen: 1 }, DT);
  assert.ok(s < out.ParamAngleX, "a lower min cutoff smooths more");
  assert.equal(out.ParamEyeLOpen, 1, "channels are independent");
});

test("ResultClock keeps the results' spacing whatever the network does, never ahead of arrival", () => {
  const clock = new ResultClock();
  const server0 = 1.7e12;
  const arrivals = [1000, 1045, 1061, 1130, 1135, 1199]; // jittery arrivals of frames 33 ms apart
  const local = arrivals.map((now, i) => clock.toLocal(server0 + i * 33, now));
  for (let i = 0; i < local.length; i++) assert.ok(local[i] <= arrivals[i] + 1e-9, `result ${i} mapped after it arrived`);
  // after the fastest arrival seen, spacing is exact
  for (let i = 3; i < local.length; i++) assert.ok(Math.abs(local[i] - local[i - 1] - 33) < 1e-9);
  clock.reset();
  assert.equal(clock.toLocal(server0 + 999, 5000), 5000, "re-anchored on the next arrival");
  assert.equal(clock.toLocal(undefined, 6000), 6000, "no timestamp: the arrival time");
});

// ---------------------------------------------------------------- refresh rate

const gesture = recording("gesture");
const imageSize = gesture.imageSize;
const HEAD = ["ParamAngleX", "ParamAngleY", "ParamAngleZ"];
const results = gesture.results
  .filter((m) => m.faces.length)
  .map((m) => ({ t: m.ts.ingest, params: rigFromFace(m.faces[0], imageSize).params }));

/** The page: results reach the smoother as they arrive; each display frame draws what it holds. */
function drawAt(rateHz) {
  const smoother = new ResultSmoother();
  const period = 1000 / rateHz;
  const grid = [];
  const shown = [];
  let next = 0;
  for (let j = 0; ; j++) {
    const now = results[0].t + (0.37 + j) * period;
    if (now > results[results.length - 1].t + period) break;
    while (next < results.length && results[next].t <= now) {
      smoother.result(results[next].params, results[next].t, results[next].t);
      next += 1;
    }
    grid.push(now);
    shown.push(smoother.frame(now));
  }
  return { grid, shown };
}

test("what is drawn depends on the results, not on the refresh rate: head lag equal within 10 % at 30, 60, 144 Hz", () => {
  const lags = [30, 60, 144].map((rate) => {
    const { grid, shown } = drawAt(rate);
    return smoothingLagMs(results, grid, shown, HEAD);
  });
  const mean = lags.reduce((a, b) => a + b) / lags.length;
  assert.ok(mean > 1, `the filter smooths at all: lag ${lags}`);
  for (const lag of lags) assert.ok(Math.abs(lag - mean) <= 0.1 * mean, `head lag at 30/60/144 Hz: ${lags.map((x) => x.toFixed(1))} ms`);
});

test("each display frame shows the filter's output for the latest result, at any refresh rate", () => {
  const filter = new RigFilter();
  const perResult = results.map((r) => filter.filter(r.params, r.t));
  for (const rate of [30, 60, 144]) {
    const { grid, shown } = drawAt(rate);
    grid.forEach((now, j) => {
      let k = results.length - 1;
      while (results[k].t > now) k -= 1;
      assert.deepEqual(shown[j], perResult[k], `${rate} Hz frame ${j}`);
    });
  }
});

test("ResultSmoother: idle frames ease to the rest pose on the page clock; tracking resumes re-anchored", () => {
  const s = new ResultSmoother({ staleMs: 500 });
  s.result({ ParamAngleX: 20 }, 1.7e12, 1000);
  s.result({ ParamAngleX: 20 }, 1.7e12 + 33, 1040);
  let last;
  assert.equal(s.frame(1100).ParamAngleX, s.current.ParamAngleX, "tracked: a frame draws the latest result");
  for (let now = 1600; now < 4000; now += 16) last = s.frame(now, { ParamAngleX: 0 }).ParamAngleX;
  assert.ok(Math.abs(last) < 0.5, `eased back to rest: ${last}`);
  const back = s.result({ ParamAngleX: 10 }, 1.7e12 + 9000, 4010).ParamAngleX;
  assert.ok(back > 0.1, `the first result after a pause moves the avatar: ${back}`);
});
