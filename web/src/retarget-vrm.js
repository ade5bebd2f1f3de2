// RETARGET for VRM avatars: a (filtered) body state -> normalized humanoid
// bone rotations, expression weights and lookAt angles. Pure: the VRM avatar
// (avatar-vrm.js) copies the result onto three-vrm's objects, and node tests
// check it without a browser.
//
// - Bones: the state is already in the VRM 1.0 normalized frame (docs/rig.md).
//   VRM 0.x models face -Z, so their normalized frame is turned half a turn
//   about Y: q -> [-x, y, -z, w] (as three-vrm's own retargeting example does).
// - Mirror (default on): mirrorState first, so the user's right hand moves the
//   avatar's LEFT arm, the one on the screen's right.
// - Expressions: Perfect Sync when the model has expressions named after the
//   ARKit blendshapes (VSeeFace's rule; names matched case-insensitively):
//   they are driven directly, and the presets that would double them (blink,
//   mouth, emotions) stay at 0. Otherwise the presets from the state.
// - Gaze: three-vrm's lookAt yaw is + toward the avatar's left, its pitch + down.
import { mirrorState, BONES, EXPRESSIONS } from "./solve.js";
import { BLENDSHAPE_NAMES } from "./protocol.js";

const ARKIT = BLENDSHAPE_NAMES.filter((n) => n !== "_neutral");
const PERFECT_SYNC_MIN = 40; // of MediaPipe's 51 ARKit names

/**
 * What a loaded model offers, computed once per model.
 * @param {object} o {metaVersion: "0" | "1", expressionNames: string[], boneNames: string[]}
 */
export function describeModel({ metaVersion = "1", expressionNames = [], boneNames = BONES }) {
  const byLower = new Map(expressionNames.map((n) => [n.toLowerCase(), n]));
  const arkit = {};
  for (const name of ARKIT) {
    const own = byLower.get(name.toLowerCase());
    if (own) arkit[name] = own;
  }
  const perfectSync = Object.keys(arkit).length >= PERFECT_SYNC_MIN;
  return {
    vrm0: String(metaVersion) === "0",
    presets: EXPRESSIONS.filter((n) => expressionNames.includes(n)),
    arkit: perfectSync ? arkit : {},
    perfectSync,
    eyeLookExpressions: perfectSync && ["eyeLookInLeft", "eyeLookOutLeft"].every((n) => n in arkit),
    bones: BONES.filter((b) => boneNames.includes(b)),
  };
}

/**
 * @param {object} state a filtered body state (every bone present)
 * @param {object} model describeModel(...)
 * @param {object} opts {mirror: boolean}
 * @returns {{bones: Object<string, number[]>, expressions: Object<string, number>, lookAt: {yaw, pitch} | null}}
 */
export function retargetVrm(state, model, { mirror = true } = {}) {
  const s = mirror ? mirrorState(state) : state;
  const bones = {};
  for (const name of model.bones) {
    const q = s.bones[name];
    if (!q) continue;
    bones[name] = model.vrm0 ? [-q[0], q[1], -q[2], q[3]] : [q[0], q[1], q[2], q[3]];
  }
  const expressions = {};
  if (model.perfectSync) {
    for (const [name, own] of Object.entries(model.arkit)) expressions[own] = s.blendshapes?.[name] ?? 0;
    for (const name of model.presets) expressions[name] = 0;
  } else {
    for (const name of model.presets) expressions[name] = s.expressions?.[name] ?? 0;
  }
  const lookAt = model.eyeLookExpressions || !s.gaze ? null : { yaw: s.gaze.yaw, pitch: -s.gaze.pitch };
  return { bones, expressions, lookAt };
}
