// SOLVE: the latest face, pose and hands -> one neutral body state.
//
// docs/rig.md is the contract: every formula here is written there, and the
// Python port (live2d_pose/rig/) implements the same. Pure: no clock, no
// DOM, no state between calls. Sides are the subject's own; mirroring is a
// retarget option (mirrorState below).
import {
  IDENTITY, DEG, sub, dot, cross, normalize, mid, clamp, smoothstep, length,
  axisAngle, multiply, conjugate, rotate, arc, half, frame, fromBasis, scale, add,
} from "./quat.js";
import { TRACKERS, blendshapeMap } from "./protocol.js";
import { eyeOpenness } from "./eyes.js";

export const STATE_VERSION = 2;
export const VISIBLE = 0.5;
const UP = [0, 1, 0];

export const SIDES = Object.freeze({
  left: { shoulder: 11, elbow: 13, wrist: 15, d0: [1, 0, 0], b0: [0, -1, 0], finger: [0, 0, -1], thumb: normalize([1, 0, -1]) },
  right: { shoulder: 12, elbow: 14, wrist: 16, d0: [-1, 0, 0], b0: [0, 1, 0], finger: [0, 0, 1], thumb: normalize([1, 0, 1]) },
});

export const FINGERS = Object.freeze({
  Index: [5, 6, 7, 8],
  Middle: [9, 10, 11, 12],
  Ring: [13, 14, 15, 16],
  Little: [17, 18, 19, 20],
});
const FINGER_JOINTS = ["Proximal", "Intermediate", "Distal"];
const THUMB = [1, 2, 3, 4];
const THUMB_JOINTS = ["ThumbMetacarpal", "ThumbProximal", "ThumbDistal"];
const FINGER_LIMITS = [-20 * DEG, 110 * DEG];
const THUMB_LIMITS = [0, 90 * DEG];
const PALM_REST = { c0: [0, 0, -1] };

/** Every bone name the state may carry (VRM 1.0 humanoid names). */
export const BONES = Object.freeze([
  "hips", "spine", "chest", "neck", "head",
  ...["left", "right"].flatMap((s) => [
    `${s}UpperArm`, `${s}LowerArm`, `${s}Hand`,
    ...THUMB_JOINTS.map((j) => `${s}${j}`),
    ...Object.keys(FINGERS).flatMap((f) => FINGER_JOINTS.map((j) => `${s}${f}${j}`)),
  ]),
]);

/** Rest rotations for retargets (docs/rig.md "Rest values"): arms hang down. */
export const REST = Object.freeze({
  leftUpperArm: Object.freeze(axisAngle([0, 0, -1], 70 * DEG)),
  rightUpperArm: Object.freeze(axisAngle([0, 0, 1], 70 * DEG)),
});
export const restRotation = (bone) => REST[bone] ?? IDENTITY;

export const EXPRESSIONS = Object.freeze(["blinkLeft", "blinkRight", "aa", "ih", "ou", "ee", "oh", "happy", "angry", "sad", "surprised"]);

// ------------------------------------------------------------------ helpers

/** MediaPipe world point i of a flat array with `stride` values per point -> the rig's frame. */
function point(arr, i, stride = 3) {
  return [arr[stride * i], -arr[stride * i + 1], -arr[stride * i + 2]];
}

const r01 = (v, lo, hi) => clamp((v - lo) / (hi - lo), 0, 1);
const avg = (a, b) => (a + b) / 2;

/** Signed angle from v1 to v2 about unit axis k, both projected onto the plane normal to k. */
function signedAngle(v1, v2, k) {
  const p1 = sub(v1, scale(k, dot(v1, k)));
  const p2 = sub(v2, scale(k, dot(v2, k)));
  return Math.atan2(dot(k, cross(p1, p2)), dot(p1, p2));
}

function unsignedAngle(v1, v2) {
  return Math.atan2(length(cross(v1, v2)), dot(v1, v2));
}

// ------------------------------------------------------------------ torso and arms

/**
 * Pose -> {bones, chest (global rotation or null)}. `pose` is a parsed pose:
 * {landmarks: Float32Array(33*5), world: Float32Array(33*3)}.
 */
export function solvePose(pose) {
  const bones = {};
  const vis = (i) => pose.landmarks[5 * i + 3] >= VISIBLE;
  const P = (i) => point(pose.world, i);

  let C = null;
  if (vis(11) && vis(12)) {
    const hipsSeen = vis(23) && vis(24);
    const up = hipsSeen ? sub(mid(P(11), P(12)), mid(P(23), P(24))) : UP;
    C = frame(sub(P(11), P(12)), up);
    const H = hipsSeen ? frame(sub(P(23), P(24)), UP) : IDENTITY;
    if (hipsSeen) bones.hips = H;
    const torso = half(multiply(conjugate(H), C));
    bones.spine = torso;
    bones.chest = torso;
  }
  const parent = C ?? IDENTITY;
  const lowerArms = {};
  for (const [side, s] of Object.entries(SIDES)) {
    if (!(vis(s.shoulder) && vis(s.elbow))) continue;
    const u = normalize(sub(P(s.elbow), P(s.shoulder)));
    const swing = arc(s.d0, u);
    let U = swing;
    let f = null;
    if (vis(s.wrist)) {
      f = normalize(sub(P(s.wrist), P(s.elbow)));
      const n = cross(u, f);
      const sinBend = length(n);
      if (sinBend > 1e-6) {
        const b = scale(n, 1 / sinBend);
        const bs = rotate(swing, s.b0);
        const phi = Math.atan2(dot(u, cross(bs, b)), dot(bs, b));
        U = multiply(axisAngle(u, smoothstep(0.17, 0.5, sinBend) * phi), swing);
      }
    }
    bones[`${side}UpperArm`] = multiply(conjugate(parent), U);
    if (f) {
      const L = multiply(arc(rotate(U, s.d0), f), U);
      bones[`${side}LowerArm`] = multiply(conjugate(U), L);
      lowerArms[side] = L;
    }
  }
  return { bones, chest: C, lowerArms };
}

// ------------------------------------------------------------------ hands

/**
 * Which side each hand is: {left: hand|null, right: hand|null}. With a pose,
 * by the nearest pose wrist in the image; without, by MediaPipe's label.
 */
export function assignHands(hands, pose) {
  const out = { left: null, right: null };
  if (!hands || hands.length === 0) return out;
  if (!pose) {
    for (const h of hands) {
      const side = h.handedness === "Left" ? "left" : "right";
      if (!out[side]) out[side] = h;
    }
    return out;
  }
  const wrist = (i) => [pose.landmarks[5 * i], pose.landmarks[5 * i + 1]];
  const dist = (h, i) => Math.hypot(h.landmarks[0] - wrist(i)[0], h.landmarks[1] - wrist(i)[1]);
  const candidates = hands.slice(0, 2).map((h) => {
    const dl = dist(h, SIDES.left.wrist);
    const dr = dist(h, SIDES.right.wrist);
    return { h, side: dl <= dr ? "left" : "right", d: Math.min(dl, dr) };
  });
  candidates.sort((a, b) => a.d - b.d);
  for (const c of candidates) {
    const side = out[c.side] ? (c.side === "left" ? "right" : "left") : c.side;
    if (!out[side]) out[side] = c.h;
  }
  return out;
}

/** One hand's palm (global) and finger (local) rotations; `side` is "left" or "right". */
export function solveHand(hand, side) {
  const s = SIDES[side];
  const Q = (i) => point(hand.world, i);
  const d = sub(Q(9), Q(0));
  const c = sub(Q(17), Q(5));
  const palm = multiply(frame(d, c), conjugate(frame(s.d0, PALM_REST.c0)));
  const dh = normalize(d);
  const ch = normalize(sub(c, scale(dh, dot(c, dh))));
  const k = side === "left" ? ch : scale(ch, -1);
  const bones = {};
  for (const [name, idx] of Object.entries(FINGERS)) {
    let prev = sub(Q(idx[0]), Q(0));
    for (let j = 0; j < 3; j++) {
      const seg = sub(Q(idx[j + 1]), Q(idx[j]));
      const theta = clamp(signedAngle(prev, seg, k), FINGER_LIMITS[0], FINGER_LIMITS[1]);
      bones[`${side}${name}${FINGER_JOINTS[j]}`] = axisAngle(s.finger, theta);
      prev = seg;
    }
  }
  let prev = sub(Q(THUMB[0]), Q(0));
  for (let j = 0; j < 3; j++) {
    const seg = sub(Q(THUMB[j + 1]), Q(THUMB[j]));
    const theta = clamp(unsignedAngle(prev, seg), THUMB_LIMITS[0], THUMB_LIMITS[1]);
    bones[`${side}${THUMB_JOINTS[j]}`] = axisAngle(s.thumb, theta);
    prev = seg;
  }
  return { palm, bones };
}

// ------------------------------------------------------------------ face

/** The facial transformation matrix (row-major 4x4) -> the head's global rotation. */
export function headRotation(matrix) {
  const col = (j) => normalize([matrix[j], matrix[4 + j], matrix[8 + j]]);
  return fromBasis(col(0), col(1), col(2));
}

/** Blendshapes -> VRM preset expressions and gaze (docs/rig.md table). */
export function solveExpressions(bs) {
  const open = r01(bs.jawOpen, 0.05, 0.5);
  const round = r01(Math.max(bs.mouthFunnel, bs.mouthPucker), 0.1, 0.5);
  const wide = r01(avg(bs.mouthStretchLeft, bs.mouthStretchRight) + avg(bs.mouthSmileLeft, bs.mouthSmileRight), 0.1, 0.6);
  const happy = r01(avg(bs.mouthSmileLeft, bs.mouthSmileRight), 0.2, 0.7);
  const angry = r01(avg(bs.browDownLeft, bs.browDownRight), 0.2, 0.6) * (1 - happy);
  const expressions = {
    blinkLeft: 1 - eyeOpenness(bs.eyeBlinkLeft), // each eye its own (eyes.js: winks show,
    blinkRight: 1 - eyeOpenness(bs.eyeBlinkRight), // a one-result blink still closes)
    aa: open * (1 - round) * (1 - 0.5 * wide),
    ih: wide * open * (1 - round),
    ou: round * (1 - open),
    ee: wide * (1 - open) * (1 - round),
    oh: open * round,
    happy,
    angry,
    sad: r01(avg(bs.mouthFrownLeft, bs.mouthFrownRight) + 0.5 * bs.browInnerUp, 0.2, 0.7) * (1 - happy),
    surprised: r01(avg(bs.eyeWideLeft, bs.eyeWideRight) + 0.5 * bs.browInnerUp, 0.3, 0.8) * (1 - angry),
  };
  const gaze = {
    yaw: (25 * (bs.eyeLookOutLeft + bs.eyeLookInRight - bs.eyeLookInLeft - bs.eyeLookOutRight)) / 2,
    pitch: (20 * (bs.eyeLookUpLeft + bs.eyeLookUpRight - bs.eyeLookDownLeft - bs.eyeLookDownRight)) / 2,
  };
  return { expressions, gaze };
}

// ------------------------------------------------------------------ the whole state

/**
 * The latest result of each tracker -> the body state of docs/rig.md.
 * @param {object} input {face, pose, hands, t, times, facePose, handsPose}:
 *   face/pose are one parsed face/pose or null, hands a list of parsed hands
 *   (maybe empty), t in ms; times {face, pose, hands}: each tracker's result
 *   time in ms, null for a tracker whose result is not part of this state
 *   (default: all null). facePose / handsPose: the pose result of the face's /
 *   the hands' own frame when it is not `pose` (the head is taken relative
 *   to its chest; the hands are sided and hinged by it); default `pose`.
 */
export function solve({ face = null, pose = null, hands = [], t = 0, times = null, facePose = pose, handsPose = pose } = {}) {
  const state = {
    version: STATE_VERSION,
    t,
    times: Object.fromEntries(TRACKERS.map((k) => [k, Number.isFinite(times?.[k]) ? times[k] : null])),
    seen: { face: false, pose: false, leftHand: false, rightHand: false },
    bones: {},
    expressions: {},
    gaze: null,
    blendshapes: null,
  };
  const poses = new Map(); // each pose result solved once
  const solved = (p) => {
    if (!p) return null;
    if (!poses.has(p)) poses.set(p, solvePose(p));
    return poses.get(p);
  };
  if (pose) {
    Object.assign(state.bones, solved(pose).bones);
    state.seen.pose = true;
  }
  if (face) {
    state.seen.face = true;
    if (face.matrix) {
      const rel = half(multiply(conjugate(solved(facePose)?.chest ?? IDENTITY), headRotation(face.matrix)));
      state.bones.neck = rel;
      state.bones.head = rel;
    }
    if (face.blendshapes) {
      const bs = blendshapeMap(face.blendshapes);
      Object.assign(state, solveExpressions(bs));
      state.blendshapes = bs;
    }
  }
  const bySide = assignHands(hands, handsPose);
  const lowerArms = solved(handsPose)?.lowerArms ?? {};
  for (const side of ["left", "right"]) {
    const hand = bySide[side];
    if (!hand) continue;
    const { palm, bones } = solveHand(hand, side);
    Object.assign(state.bones, bones);
    if (lowerArms[side]) state.bones[`${side}Hand`] = multiply(conjugate(lowerArms[side]), palm);
    state.seen[`${side}Hand`] = true;
  }
  return state;
}

// ------------------------------------------------------------------ mirror

const swapSide = (name) =>
  name.startsWith("left") ? `right${name.slice(4)}` : name.startsWith("right") ? `left${name.slice(5)}` : name;
const swapSuffix = (name) =>
  name.endsWith("Left") ? `${name.slice(0, -4)}Right` : name.endsWith("Right") ? `${name.slice(0, -5)}Left` : name;

/** The state of the mirror image (docs/rig.md "Mirror"). Mirroring twice gives the original. */
export function mirrorState(state) {
  const bones = {};
  for (const [name, q] of Object.entries(state.bones)) bones[swapSide(name)] = [q[0], -q[1], -q[2], q[3]];
  const swapKeys = (obj) => (obj ? Object.fromEntries(Object.entries(obj).map(([k, v]) => [swapSuffix(k), v])) : obj);
  return {
    ...state,
    seen: { ...state.seen, leftHand: state.seen.rightHand, rightHand: state.seen.leftHand },
    bones,
    expressions: swapKeys(state.expressions),
    gaze: state.gaze ? { yaw: -state.gaze.yaw, pitch: state.gaze.pitch } : null,
    blendshapes: swapKeys(state.blendshapes),
  };
}

// exported for tests and the Python port's cross-check
export const _internal = { point, signedAngle, unsignedAngle, add };
