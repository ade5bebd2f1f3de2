// RETARGET for VRM avatars: the motion's state -> normalized humanoid bone
// rotations, expression weights and lookAt angles. Pure: the VRM avatar
// (avatar-vrm.js) copies the result onto three-vrm's objects, and node tests
// check it without a browser.
//
// - Bones: the motion is in the VRM 1.0 normalized frame (docs/rig.md), already
//   mirrored by the gateway when the page asked for it (?mirror=, the default).
//   VRM 0.x models face -Z, so their normalized frame is turned half a turn
//   about Y: q -> [-x, y, -z, w] (as three-vrm's own retargeting example does).
// - Expressions: Perfect Sync when the model has expressions named after the
//   ARKit blendshapes (VSeeFace's rule; names matched case-insensitively):
//   they are driven directly, and the presets that would double them (blink,
//   mouth, emotions) stay at 0. Otherwise the presets from the state.
// - Gaze: three-vrm's lookAt yaw is + toward the avatar's left, its pitch + down.
// - Hips position: the motion's is metres in the room for MediaPipe's average
//   adult, whose hips stand REST_HIPS_POSITION's 0.80 m up (docs/rig.md,
//   "Hips position"); the model's hips go as far, scaled by its own hips
//   height over 0.80, from where they stand at rest (VRM 0.x: its frame turned
//   as for the bones). So a step, a crouch or a jump moves a tall model and a
//   short one alike, each on its own legs.
import { BLENDSHAPES, EXPRESSIONS, REST_HIPS_POSITION } from "./contract.js";

const PERFECT_SYNC_MIN = 40; // of MediaPipe's 51 ARKit names

/**
 * What a loaded model offers, computed once per model.
 * @param {object} o {metaVersion: "0" | "1", expressionNames: string[], boneNames: string[] (its humanoid's),
 *   hipsRest: [x, y, z] (its normalized hips' rest position, y its height above its floor; null: no hips)}
 */
export function describeModel({ metaVersion = "1", expressionNames = [], boneNames = [], hipsRest = null }) {
  const byLower = new Map(expressionNames.map((n) => [n.toLowerCase(), n]));
  const arkit = {};
  for (const name of BLENDSHAPES) {
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
    bones: new Set(boneNames),
    hipsRest: hipsRest && hipsRest[1] > 0 ? [...hipsRest] : null,
  };
}

/**
 * Where the model's normalized hips stand: their rest position plus the motion's travel from the
 * rig's rest, scaled by the model's hips height over the rig's. Null for a model without hips.
 */
export function hipsPosition(state, model) {
  const rest = model.hipsRest;
  if (!rest) return null;
  const p = state.hipsPosition;
  if (!p) return [...rest];
  const scale = rest[1] / REST_HIPS_POSITION[1];
  const [dx, dy, dz] = p.map((v, i) => (v - REST_HIPS_POSITION[i]) * scale);
  return model.vrm0 ? [rest[0] - dx, rest[1] + dy, rest[2] - dz] : [rest[0] + dx, rest[1] + dy, rest[2] + dz];
}

/**
 * @param {object} state the motion's state (motion.js MotionHolder.state)
 * @param {object} model describeModel(...)
 * @returns {{bones: Object<string, number[]>, expressions: Object<string, number>, lookAt: {yaw, pitch} | null,
 *   hips: number[] | null}} (hips: the normalized hips' position, hipsPosition)
 */
export function retargetVrm(state, model) {
  const bones = {};
  for (const [name, q] of Object.entries(state.bones)) {
    if (!model.bones.has(name)) continue;
    bones[name] = model.vrm0 ? [-q[0], q[1], -q[2], q[3]] : [q[0], q[1], q[2], q[3]];
  }
  const expressions = {};
  if (model.perfectSync) {
    for (const [name, own] of Object.entries(model.arkit)) expressions[own] = state.blendshapes[name] ?? 0;
    for (const name of model.presets) expressions[name] = 0;
  } else {
    for (const name of model.presets) expressions[name] = state.expressions[name] ?? 0;
  }
  const lookAt = model.eyeLookExpressions ? null : { yaw: state.gaze.yaw, pitch: -state.gaze.pitch };
  return { bones, expressions, lookAt, hips: hipsPosition(state, model) };
}
