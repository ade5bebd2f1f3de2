import { test } from "node:test";
import assert from "node:assert/strict";
import { OneEuroFilter, RigFilter, channelKind } from "../src/filter.js";

const DT = 1000 / 30; // 30 samples/s

test("a still input stays exactly still", () => {
  const f = new OneEuroFilter({ minCutoff: 1, beta: 0.05 });
  for (let i = 0; i < 100; i++) assert.equal(f.filter(12.5, i * DT), 12.5);
});

test("a step is followed: half way within 5 samples, within 2 % after 30", () => {
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

test("same timestamp twice and non-finite values do not produce NaN", () => {
  const f = new OneEuroFilter();
  f.filter(1, 100);
  assert.ok(Number.isFinite(f.filter(2, 100)));
  assert.ok(Number.isFinite(f.filter(NaN, 133)));
});

test("RigFilter keeps one filter per channel with per-kind tuning", () => {
  assert.equal(channelKind("ParamAngleX"), "angle");
  assert.equal(channelKind("ParamEyeLOpen"), "eye");
  assert.equal(channelKind("ParamEyeBallY"), "eyeBall");
  assert.equal(channelKind("ParamMouthForm"), "mouth");
  const rf = new RigFilter();
  rf.filter({ ParamAngleX: 0, ParamEyeLOpen: 1 }, 0);
  const out = rf.filter({ ParamAngleX: 0, ParamEyeLOpen: 0 }, DT);
  assert.equal(out.ParamAngleX, 0);
  // eyelids are tuned fast: a blink moves at least a third of the way in one sample
  assert.ok(out.ParamEyeLOpen < 0.67, `eye after one sample ${out.ParamEyeLOpen}`);
  // scale: a lower min cutoff smooths more
  const smooth = new RigFilter({ scale: { minCutoff: 0.2, beta: 1 } });
  smooth.filter({ ParamAngleX: 0 }, 0);
  const s = smooth.filter({ ParamAngleX: 10 }, DT).ParamAngleX;
  const n = new RigFilter();
  n.filter({ ParamAngleX: 0 }, 0);
  assert.ok(s < n.filter({ ParamAngleX: 10 }, DT).ParamAngleX);
});
