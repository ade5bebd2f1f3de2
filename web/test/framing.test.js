// framing.js: which slice of the 3D avatar the camera shows, and that it keeps the avatar in the picture.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EASE_MS, Framing, UPPER_AFTER_MS, legsFollowed } from "../src/framing.js";

const REST = { head: [0, 1.4, 0], chest: [0, 1.15, 0], hips: [0, 0.9, 0], floor: 0 };
const LEGS = { leftUpperLeg: 1, leftLowerLeg: 1 };
const at = (dx = 0, dy = 0, dz = 0) => Object.fromEntries(
  Object.entries(REST).filter(([k]) => k !== "floor").map(([k, p]) => [k, [p[0] + dx, p[1] + dy, p[2] + dz]]));

/** Frames at 60 Hz for `ms`, the avatar where `joints(t)` says; the last aim. */
function run(framing, parts, joints, ms, from = 0) {
  let aim;
  for (let t = from; t <= from + ms; t += 1000 / 60) aim = framing.update(parts, joints(t), t);
  return aim;
}

test("a leg is followed when its thigh and shin are", () => {
  assert.equal(legsFollowed(LEGS), true);
  assert.equal(legsFollowed({ leftUpperLeg: 1, leftLowerLeg: 0.2, rightUpperLeg: 0.3 }), false);
  assert.equal(legsFollowed(undefined), false);
});

test("upper frames the bust, full the whole body from below the feet to above the head", () => {
  const upper = new Framing("upper", REST).update(LEGS, at(), 0);
  assert.equal(upper.kind, "upper");
  assert.ok(upper.height < 1 && upper.centre[1] - upper.height / 2 > 0.7, "from below the chest up");
  const full = new Framing("full", REST).update({}, at(), 0);
  assert.equal(full.kind, "full");
  assert.ok(full.centre[1] - full.height / 2 < 0 && full.centre[1] + full.height / 2 > 1.6, "feet to above the head");
});

test("auto: full while a leg is followed, upper only after the legs are gone for a while", () => {
  const framing = new Framing("auto", REST);
  assert.equal(framing.update({}, at(), 0).kind, "upper");
  assert.equal(framing.update(LEGS, at(), 100).kind, "full");
  // a leg at the picture's edge comes and goes: the framing stays
  for (let t = 200; t < 3000; t += 100) assert.equal(framing.update(t % 1000 < 600 ? {} : LEGS, at(), t).kind, "full", `t ${t}`);
  assert.equal(framing.update({}, at(), 2900 + UPPER_AFTER_MS - 1).kind, "full");
  assert.equal(framing.update({}, at(), 2900 + UPPER_AFTER_MS + 1).kind, "upper");
});

test("the switch eases: no frame jumps, and the new framing is reached within a few EASE_MS", () => {
  const framing = new Framing("auto", REST);
  let last = run(framing, {}, () => at(), 500);
  let biggest = 0;
  for (let t = 500; t < 500 + 6 * EASE_MS; t += 1000 / 60) {
    const aim = framing.update(LEGS, at(), t);
    biggest = Math.max(biggest, Math.abs(aim.height - last.height), Math.abs(aim.centre[1] - last.centre[1]));
    last = aim;
  }
  assert.ok(biggest < 0.1, `largest step ${biggest} m`);
  const full = new Framing("full", REST).update({}, at(), 0);
  assert.ok(Math.abs(last.height - full.height) < 0.01 && Math.abs(last.centre[1] - full.centre[1]) < 0.01);
});

test("a small step is seen as a step; a walk is followed: the avatar stays near the picture's centre", () => {
  const framing = new Framing("full", REST);
  run(framing, {}, () => at(), 500);
  const step = run(framing, {}, () => at(0.1), 2000, 500);
  assert.ok(Math.abs(step.centre[0]) < 1e-9, "a 10 cm step: the camera stays");
  const walk = (t) => at(-1.2 * (t / 1000)); // 1.2 m/s toward the avatar's right, 5 s
  let worst = 0;
  for (let t = 0; t <= 5000; t += 1000 / 60) {
    const aim = framing.update(LEGS, walk(t), t);
    worst = Math.max(worst, Math.abs(walk(t).hips[0] - aim.centre[0]) / aim.height);
  }
  assert.ok(worst < 0.3, `the hips drift at most ${worst} of the framed height from the centre`);
});

test("a jump raises the full framing with the hips; a crouch keeps the feet where they are", () => {
  const framing = new Framing("full", REST);
  const standing = run(framing, {}, () => at(), 1000);
  const jump = run(framing, {}, () => at(0, 0.4), 1500, 1000);
  assert.ok(Math.abs(jump.centre[1] - standing.centre[1] - 0.4) < 0.01);
  const crouch = run(framing, {}, () => ({ ...at(0, -0.3), hips: [0, 0.6, 0] }), 1500, 2500);
  assert.ok(Math.abs(crouch.centre[1] - standing.centre[1]) < 0.01);
});

test("upper framing follows a lean or a crouch, so the head stays in the picture", () => {
  const framing = new Framing("upper", REST);
  const still = run(framing, {}, () => at(), 1000);
  const crouched = run(framing, {}, () => at(0.3, -0.4), 2000, 1000);
  assert.ok(Math.abs(crouched.centre[1] - (still.centre[1] - 0.4)) < 0.01);
  const head = at(0.3, -0.4).head;
  assert.ok(Math.abs(head[0] - crouched.centre[0]) <= 0.1 * crouched.height + 1e-3, "within the dead zone");
  assert.ok(Math.abs(head[1] - crouched.centre[1]) < crouched.height / 2);
});

test("a sudden rise (a jump, or a glitch of the hips' height) never leaves the camera further behind than the dead zone", () => {
  const framing = new Framing("full", REST);
  const standing = run(framing, {}, () => at(), 1000);
  const risen = framing.update({}, at(0, 0.6), 1000 + 1000 / 60);
  assert.ok(risen.centre[1] >= standing.centre[1] + 0.6 - 0.1 * risen.height - 1e-9);
});
