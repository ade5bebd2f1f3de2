// RETARGET for the 2D avatars (Live2D models and the built-in drawing): the
// filtered body state -> Live2D standard parameters for head and body, and an
// arm pose per side. Pure.
//
// The face's expression parameters (eyes, mouth, brows) come from rig.js;
// this module adds what the body state knows:
// - ParamAngleX/Y/Z from the head (neck · head, the facial matrix: the
//   steadier source, docs/rig.md "Head source"), in Live2D's convention:
//   X + turns to the screen's right, Y + up, Z + tilts to the screen's right;
// - ParamBodyAngleX/Y/Z from the torso (spine · chest) plus a little of the
//   head (the KalidoKit demo's body follow), so a body without a pose still
//   sways and one with a pose never jumps when it appears;
// - arms: per side of the avatar, the directions of the upper arm, forearm and
//   hand in the avatar's frame (x toward its left = the screen's right when it
//   faces you, y up), and how far the fingers are curled.
// Mirror (default) works as for VRM: mirrorState first.
import { mirrorState, SIDES, FINGERS } from "./solve.js";
import { IDENTITY, multiply, rotate, toYawPitchRoll, clamp, angleBetween } from "./quat.js";

const BODY_FOLLOW = 0.3;
export const ANGLE_RANGE = 30;
export const BODY_RANGE = 10;

const chain = (bones, names) => names.reduce((q, n) => multiply(q, bones[n] ?? IDENTITY), IDENTITY);

/** Live2D-convention angles (degrees) of a rotation in the avatar's frame. */
export function live2dAngles(q) {
  const { yaw, pitch, roll } = toYawPitchRoll(q);
  return { x: yaw, y: -pitch, z: -roll };
}

/**
 * Head and body parameters from the state, merged over rig.js's face params.
 * @param {object} faceParams rig.js parameters (eyes, mouth, brows, and its own angles)
 * @param {object} state filtered body state
 */
export function live2dParams(faceParams, state, { mirror = true } = {}) {
  const s = mirror ? mirrorState(state) : state;
  const p = { ...faceParams };
  const head = live2dAngles(multiply(s.bones.neck ?? IDENTITY, s.bones.head ?? IDENTITY));
  p.ParamAngleX = clamp(head.x, -ANGLE_RANGE, ANGLE_RANGE);
  p.ParamAngleY = clamp(head.y, -ANGLE_RANGE, ANGLE_RANGE);
  p.ParamAngleZ = clamp(head.z, -ANGLE_RANGE, ANGLE_RANGE);
  const torso = live2dAngles(chain(s.bones, ["spine", "chest"]));
  p.ParamBodyAngleX = clamp(torso.x + BODY_FOLLOW * head.x, -BODY_RANGE, BODY_RANGE);
  p.ParamBodyAngleY = clamp(torso.y + BODY_FOLLOW * head.y, -BODY_RANGE, BODY_RANGE);
  p.ParamBodyAngleZ = clamp(torso.z + BODY_FOLLOW * head.z, -BODY_RANGE, BODY_RANGE);
  return p;
}

/**
 * Per side of the avatar: unit directions (avatar frame) of upper arm, forearm
 * and hand, the elevation of the upper arm (0 hanging, 90 level, 180 up), the
 * elbow bend (degrees) and the fingers' curl (0 open .. 1 fist).
 */
export function armPose(state, { mirror = true } = {}) {
  const s = mirror ? mirrorState(state) : state;
  const out = {};
  for (const [side, def] of Object.entries(SIDES)) {
    const L = (n) => `${side}${n}`;
    const torso = ["hips", "spine", "chest"];
    const upper = chain(s.bones, [...torso, L("UpperArm")]);
    const lower = multiply(upper, s.bones[L("LowerArm")] ?? IDENTITY);
    const hand = multiply(lower, s.bones[L("Hand")] ?? IDENTITY);
    const upperDir = rotate(upper, def.d0);
    const curls = Object.keys(FINGERS).map((f) =>
      ["Proximal", "Intermediate", "Distal"].reduce((a, j) => a + angleBetween(s.bones[L(`${f}${j}`)] ?? IDENTITY, IDENTITY), 0));
    out[side] = {
      upperDir,
      lowerDir: rotate(lower, def.d0),
      handDir: rotate(hand, def.d0),
      elevation: (Math.acos(clamp(-upperDir[1], -1, 1)) * 180) / Math.PI,
      bend: (angleBetween(s.bones[L("LowerArm")] ?? IDENTITY, IDENTITY) * 180) / Math.PI,
      grip: clamp(curls.reduce((a, b) => a + b, 0) / curls.length / (Math.PI * 1.2), 0, 1),
      thumb: clamp(["ThumbMetacarpal", "ThumbProximal", "ThumbDistal"].reduce((a, j) => a + angleBetween(s.bones[L(j)] ?? IDENTITY, IDENTITY), 0) / Math.PI, 0, 1),
    };
  }
  return out;
}

// Live2D models name their arm parameters in many ways; look them up in the
// model. Each entry: the channel, the regular expression for the id (side
// letter in group 1) and how the channel's 0..1 maps to the parameter.
const ARM_PARAMS = [
  { channel: "elevation", re: /^ParamArm([LR])A?$/i }, // ParamArmLA (Cubism samples), ParamArmL
  { channel: "bend", re: /^ParamArm([LR])B$/i },
  { channel: "grip", re: /^ParamHand([LR])$/i },
];

/**
 * Which of the model's parameters drive arms: {id: {side, channel}}.
 * `ids` are the model's parameter ids; L/R are the MODEL's sides.
 */
export function findArmParams(ids) {
  const found = {};
  for (const id of ids) {
    for (const { channel, re } of ARM_PARAMS) {
      const m = re.exec(id);
      if (m) found[id] = { side: m[1].toUpperCase() === "L" ? "left" : "right", channel };
    }
  }
  return found;
}

/**
 * Values for the model's arm parameters: the channel's 0..1 (elevation 0..180°,
 * bend 0..150°, grip) spread over the parameter's own [min, max].
 * @param {object} arms armPose(...)
 * @param {object} found findArmParams(...)
 * @param {object} ranges {id: {min, max}}
 */
export function armParamValues(arms, found, ranges) {
  const out = {};
  for (const [id, { side, channel }] of Object.entries(found)) {
    const r = ranges[id];
    if (!r) continue;
    const a = arms[side];
    const unit = channel === "elevation" ? a.elevation / 180 : channel === "bend" ? a.bend / 150 : a.grip;
    out[id] = r.min + (r.max - r.min) * clamp(unit, 0, 1);
  }
  return out;
}
