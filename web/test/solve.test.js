import { test } from "node:test";
import assert from "node:assert/strict";
import { solve, solvePose, solveHand, assignHands, mirrorState, headRotation, solveExpressions, BONES, SIDES, REST } from "../src/solve.js";
import { blendshapeMap } from "../src/protocol.js";
import { IDENTITY, DEG, rotate, multiply, axisAngle, angleBetween, normalize, sub, dot, toYawPitchRoll } from "../src/quat.js";
import { BLENDSHAPE_NAMES } from "../src/protocol.js";
import { recording, solveInput } from "./helpers.js";

const rec = recording("gesture");
const states = rec.results.map((r) => solve(solveInput(r)));
const near = (a, b, tol, what) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

/** A bone's global rotation from the state's local rotations (chest -> arm chain). */
function globalOf(state, bone) {
  const chain = {
    rightUpperArm: ["chest", "rightUpperArm"],
    rightLowerArm: ["chest", "rightUpperArm", "rightLowerArm"],
    leftUpperArm: ["chest", "leftUpperArm"],
    leftLowerArm: ["chest", "leftUpperArm", "leftLowerArm"],
  }[bone];
  return chain.reduce((q, b) => multiply(q, state.bones[b] ?? IDENTITY), IDENTITY);
}

// A pose whose world landmarks are given in the rig's frame (x left, y up, z forward).
function syntheticPose(points, visibility = 1) {
  const landmarks = new Float32Array(33 * 5);
  const world = new Float32Array(33 * 3);
  for (let i = 0; i < 33; i++) landmarks[5 * i + 3] = landmarks[5 * i + 4] = visibility;
  for (const [i, [x, y, z]] of Object.entries(points)) {
    world.set([x, -y, -z], 3 * i); // MediaPipe: y down, z away from the camera
  }
  return { landmarks, world };
}

const T_POSE = {
  11: [0.2, 0.5, 0], 12: [-0.2, 0.5, 0], 13: [0.5, 0.5, 0], 14: [-0.5, 0.5, 0], 15: [0.8, 0.5, 0], 16: [-0.8, 0.5, 0],
  23: [0.1, 0, 0], 24: [-0.1, 0, 0],
};

test("a T-pose gives identity for torso and arms (the rest of the normalized rig)", () => {
  const { bones } = solvePose(syntheticPose(T_POSE));
  for (const b of ["hips", "spine", "chest", "leftUpperArm", "leftLowerArm", "rightUpperArm", "rightLowerArm"]) {
    assert.ok(angleBetween(bones[b], IDENTITY) < 1e-6, `${b} ${bones[b]}`);
  }
});

test("arms: each bone's global rotation points its rest direction along the observed segment", () => {
  // right elbow bent forward and up, left arm down and a little forward
  const pose = syntheticPose({ ...T_POSE, 14: [-0.35, 0.6, 0.2], 16: [-0.3, 0.9, 0.25], 13: [0.25, 0.2, 0.05], 15: [0.3, -0.1, 0.2] });
  const state = solve({ pose });
  const P = (i) => { const w = pose.world; return [w[3 * i], -w[3 * i + 1], -w[3 * i + 2]]; };
  for (const side of ["left", "right"]) {
    const s = SIDES[side];
    const up = rotate(globalOf(state, `${side}UpperArm`), s.d0);
    const low = rotate(globalOf(state, `${side}LowerArm`), s.d0);
    assert.ok(dot(up, normalize(sub(P(s.elbow), P(s.shoulder)))) > 0.9999, `${side} upper arm`);
    assert.ok(dot(low, normalize(sub(P(s.wrist), P(s.elbow)))) > 0.9999, `${side} lower arm`);
  }
  // the elbow is a hinge: the lower arm's local rotation is about the rest bend axis only
  const q = state.bones.rightLowerArm;
  const axis = normalize([q[0], q[1], q[2]]);
  assert.ok(Math.abs(dot(axis, SIDES.right.b0)) > 0.999, `hinge axis ${axis}`);
});

test("not seen is absent: low visibility drops the bones, no pose drops the torso", () => {
  const hidden = syntheticPose(T_POSE, 0.2);
  assert.deepEqual(solvePose(hidden).bones, {});
  const s = solve({});
  assert.deepEqual(s.bones, {});
  assert.deepEqual(s.expressions, {});
  assert.equal(s.gaze, null);
  assert.deepEqual(s.seen, { face: false, pose: false, leftHand: false, rightHand: false });
  for (const name of Object.keys(states[0].bones)) assert.ok(BONES.includes(name), `unknown bone ${name}`);
});

test("gesture_video: the subject's right arm rises (frames 40-55) and is down at the start", () => {
  // frame 0: the right elbow is out of view (not seen, so at rest)
  assert.equal(states[0].bones.rightUpperArm, undefined);
  let best = -1;
  for (let i = 40; i <= 55; i++) {
    const st = states[i];
    if (!st.bones.rightLowerArm) continue;
    const forearm = rotate(globalOf(st, "rightLowerArm"), SIDES.right.d0);
    best = Math.max(best, forearm[1]);
  }
  assert.ok(best > 0.7, `the right forearm points up: y = ${best}`);
  // the subject's LEFT arm does not rise
  for (let i = 40; i <= 55; i++) {
    if (!states[i].bones.leftLowerArm) continue;
    assert.ok(rotate(globalOf(states[i], "leftLowerArm"), SIDES.left.d0)[1] < 0.3, `left forearm at ${i}`);
  }
});

test("gesture_video: the thumbs-up curls the right hand's fingers and not its thumb", () => {
  const thumbsUp = states.slice(90, 195).filter((s) => s.seen.rightHand);
  assert.ok(thumbsUp.length > 50, `right hand found in ${thumbsUp.length} frames`);
  const curl = (s, b) => 2 * Math.acos(Math.min(1, Math.abs(s.bones[b][3]))) / DEG;
  for (const s of thumbsUp.slice(0, 50)) {
    for (const f of ["Index", "Middle", "Ring", "Little"]) {
      const total = curl(s, `right${f}Proximal`) + curl(s, `right${f}Intermediate`);
      assert.ok(total > 90, `${f} curled ${total.toFixed(0)} deg`);
    }
    assert.ok(curl(s, "rightThumbProximal") + curl(s, "rightThumbDistal") < 60, "the thumb stays up");
  }
  assert.ok(!thumbsUp.some((s) => s.seen.leftHand), "the one hand is the right hand");
});

test("hands go to the side of the nearer pose wrist; without a pose, by MediaPipe's label", () => {
  const msg = rec.results[45]; // the raised right hand, labelled "Right"
  const hand = msg.hands[0];
  assert.equal(hand.handedness, "Right");
  assert.equal(assignHands([hand], msg.poses[0]).right, hand);
  const mislabelled = { ...hand, handedness: "Left" };
  assert.equal(assignHands([mislabelled], msg.poses[0]).right, mislabelled, "the pose wins over the label");
  assert.equal(assignHands([{ ...hand, handedness: "Left" }], null).left.handedness, "Left");
  assert.equal(assignHands([hand, hand], null).left, null, "two hands labelled alike: one side only");
  const two = assignHands([hand, hand], msg.poses[0]);
  assert.ok(two.left && two.right, "two hands near one wrist: the other takes the other side");
});

test("head: the facial matrix's rotation is split between neck and head; the chest is taken out", () => {
  const turn = axisAngle([0, 1, 0], 40 * DEG);
  // row-major 4x4 of that rotation
  const m = new Float32Array(16);
  const cols = [rotate(turn, [1, 0, 0]), rotate(turn, [0, 1, 0]), rotate(turn, [0, 0, 1])];
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) m[4 * r + c] = cols[c][r] * 2; // scaled: normalised away
  m[15] = 1;
  assert.ok(angleBetween(headRotation(m), turn) < 1e-6);
  const s = solve({ face: { matrix: m, blendshapes: null, landmarks: null } });
  assert.ok(angleBetween(multiply(s.bones.neck, s.bones.head), turn) < 1e-6);
  near(toYawPitchRoll(s.bones.head).yaw, 20, 1e-6, "half the yaw each");
  assert.equal(s.expressions.aa, undefined, "no blendshapes: no expressions");
  // the recording: a frontal face, head within 15 degrees of rest
  for (const st of states) assert.ok(angleBetween(multiply(st.bones.neck, st.bones.head), IDENTITY) < 15 * DEG);
});

test("expressions: jaw opens aa, a smile is happy, one eye closing blinks only that eye", () => {
  const bs = blendshapeMap(new Float32Array(52));
  const open = solveExpressions({ ...bs, jawOpen: 0.6 }).expressions;
  assert.ok(open.aa > 0.9 && open.oh === 0 && open.ou === 0, JSON.stringify(open));
  const round = solveExpressions({ ...bs, jawOpen: 0.5, mouthFunnel: 0.6 }).expressions;
  assert.ok(round.oh > 0.9 && round.aa < 0.1);
  const smile = solveExpressions({ ...bs, mouthSmileLeft: 0.8, mouthSmileRight: 0.8 }).expressions;
  assert.ok(smile.happy > 0.9 && smile.ee > 0.5);
  const wink = solveExpressions({ ...bs, eyeBlinkRight: 0.8 }).expressions;
  assert.ok(wink.blinkRight > 0.9 && wink.blinkLeft === 0);
  const look = solveExpressions({ ...bs, eyeLookOutLeft: 0.6, eyeLookInRight: 0.6 }).gaze;
  assert.ok(look.yaw > 10, "looking to the subject's own left is + yaw");
  // every value of every recorded state is within 0..1
  for (const st of states) for (const [k, v] of Object.entries(st.expressions)) assert.ok(v >= 0 && v <= 1, `${k}=${v}`);
  assert.equal(Object.keys(states[0].blendshapes).length, BLENDSHAPE_NAMES.length);
});

test("mirror: sides swap, rotations reflect through YZ, twice is the original", () => {
  const st = states[45];
  const m = mirrorState(st);
  assert.deepEqual(mirrorState(m), st);
  assert.ok(m.bones.leftUpperArm && !m.bones.rightUpperArm, "the subject's right arm drives the mirrored left arm");
  assert.equal(m.seen.leftHand, st.seen.rightHand);
  assert.equal(m.expressions.blinkLeft, st.expressions.blinkRight);
  assert.equal(m.blendshapes.eyeBlinkLeft, st.blendshapes.eyeBlinkRight);
  assert.equal(m.blendshapes.jawLeft, st.blendshapes.jawRight);
  assert.equal(m.gaze.yaw, -st.gaze.yaw);
  // the mirrored raised forearm points up too, on the other side (its x flips)
  const f = rotate(globalOf(st, "rightLowerArm"), SIDES.right.d0);
  const g = rotate(globalOf(m, "leftLowerArm"), SIDES.left.d0);
  near(g[0], -f[0], 1e-9, "x"); near(g[1], f[1], 1e-9, "y"); near(g[2], f[2], 1e-9, "z");
});

test("the mirrored video (MediaPipe run on flipped frames) solves like the mirrored state", () => {
  // Real MediaPipe on the flipped video sees the raised hand as the subject's
  // LEFT; mirrorState of the original must say the same, within MediaPipe's
  // own disagreement between the two images.
  const mrec = recording("gesture-mirrored");
  let n = 0;
  for (let i = 40; i < 56; i++) {
    const a = mirrorState(states[i]);
    const b = solve(solveInput(mrec.results[i]));
    assert.equal(b.seen.leftHand, true, `frame ${i}: the raised hand is the left one`);
    assert.ok(!b.bones.rightLowerArm || rotate(globalOf(b, "rightLowerArm"), SIDES.right.d0)[1] < 0.3);
    if (!a.bones.leftLowerArm || !b.bones.leftLowerArm) continue;
    n += 1;
    for (const bone of ["leftUpperArm", "leftLowerArm"]) {
      const da = rotate(globalOf(a, bone), SIDES.left.d0);
      const db = rotate(globalOf(b, bone), SIDES.left.d0);
      assert.ok(dot(da, db) > Math.cos(25 * DEG), `frame ${i} ${bone}: ${Math.acos(dot(da, db)) / DEG} deg apart`);
    }
    assert.ok(angleBetween(multiply(a.bones.neck, a.bones.head), multiply(b.bones.neck, b.bones.head)) < 8 * DEG, `head at ${i}`);
  }
  assert.ok(n > 10, `${n} frames compared`);
});

test("rest values: the upper arms hang down", () => {
  const l = rotate(REST.leftUpperArm, SIDES.left.d0);
  const r = rotate(REST.rightUpperArm, SIDES.right.d0);
  assert.ok(l[1] < -0.9 && r[1] < -0.9 && l[0] > 0 && r[0] < 0);
});
