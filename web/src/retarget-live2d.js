// RETARGET for the 2D avatars (Live2D models and the built-in drawing): the
// arms of the motion's state. Pure.
//
// The Live2D parameters themselves (head and body angles, eyes, mouth,
// brows) come with the motion, computed by the gateway's rig
// (live2d_pose/rig/live2d.py) and mirrored there when asked; this module adds
// the arm pose per side of the avatar: the directions of the upper arm,
// forearm and hand in the avatar's frame (x toward its left = the screen's
// right when it faces you, y up), and how far the fingers are curled, for the
// built-in avatar's drawing and the arm parameters a Live2D model has.
import { IDENTITY, multiply, rotate, clamp, angleBetween } from "./quat.js";

// Each arm's rest direction (the T-pose: along +X for the avatar's left) and its fingers.
const SIDES = Object.freeze({ left: [1, 0, 0], right: [-1, 0, 0] });
const FINGERS = ["Index", "Middle", "Ring", "Little"];

const chain = (bones, names) => names.reduce((q, n) => multiply(q, bones[n] ?? IDENTITY), IDENTITY);

/**
 * Per side of the avatar: unit directions (avatar frame) of upper arm, forearm
 * and hand, the elevation of the upper arm (0 hanging, 90 level, 180 up), the
 * elbow bend (degrees) and the fingers' curl (0 open .. 1 fist).
 */
export function armPose(state) {
  const out = {};
  for (const [side, d0] of Object.entries(SIDES)) {
    const L = (n) => `${side}${n}`;
    const bones = state.bones;
    const upper = chain(bones, ["hips", "spine", "chest", L("UpperArm")]);
    const lower = multiply(upper, bones[L("LowerArm")] ?? IDENTITY);
    const hand = multiply(lower, bones[L("Hand")] ?? IDENTITY);
    const upperDir = rotate(upper, d0);
    const bent = (names) => names.reduce((a, n) => a + angleBetween(bones[L(n)] ?? IDENTITY, IDENTITY), 0);
    const curls = FINGERS.map((f) => bent([`${f}Proximal`, `${f}Intermediate`, `${f}Distal`]));
    out[side] = {
      upperDir,
      lowerDir: rotate(lower, d0),
      handDir: rotate(hand, d0),
      elevation: (Math.acos(clamp(-upperDir[1], -1, 1)) * 180) / Math.PI,
      bend: (angleBetween(bones[L("LowerArm")] ?? IDENTITY, IDENTITY) * 180) / Math.PI,
      grip: clamp(curls.reduce((a, b) => a + b, 0) / curls.length / (Math.PI * 1.2), 0, 1),
      thumb: clamp(bent(["ThumbMetacarpal", "ThumbProximal", "ThumbDistal"]) / Math.PI, 0, 1),
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
