// What the page and the gateway's rig agree on (live2d_pose/rig/contract.json,
// bundled at build time): the motion message's version, the order of its
// float32 arrays, the Live2D parameters' ranges and neutral values, the parts
// of the body, and the rest rotations and hips position.
import CONTRACT from "../../live2d_pose/rig/contract.json" with { type: "json" };
import { axisAngle } from "./quat.js";

export const MOTION_VERSION = CONTRACT.motionVersion;
// VRM 1.0's humanoid bones in the specification's order: a motion message keys a rotation by its
// index here, as a decimal string ("18": leftUpperArm), or by its name.
export const BONE_NAMES = Object.freeze([...CONTRACT.bones]);
export const EXPRESSIONS = Object.freeze([...CONTRACT.expressions]);
// MediaPipe's blendshape order (ARKit names; "Left" is the subject's left).
export const BLENDSHAPE_NAMES = Object.freeze([...CONTRACT.blendshapes]);
// What a motion carries: the 52 ARKit names without MediaPipe's "_neutral".
export const BLENDSHAPES = Object.freeze(BLENDSHAPE_NAMES.filter((n) => n !== "_neutral"));
export const LIVE2D_IDS = Object.freeze(Object.keys(CONTRACT.live2d));
export const RANGES = Object.freeze(Object.fromEntries(LIVE2D_IDS.map((id) => [id, CONTRACT.live2d[id].range])));
/** The Live2D rest pose: what the avatar shows when nobody is tracked. */
export const NEUTRAL = Object.freeze(Object.fromEntries(LIVE2D_IDS.map((id) => [id, CONTRACT.live2d[id].neutral])));
/** Rest rotations of the bones whose rest is not identity (the arms hang down). */
export const REST = Object.freeze(Object.fromEntries(Object.entries(CONTRACT.rest).map(
  ([bone, r]) => [bone, Object.freeze(axisAngle(r.axis, (r.degrees * Math.PI) / 180))])));
export const restRotation = (bone) => REST[bone] ?? [0, 0, 0, 1];
/** The parts of the body followed or at rest as a whole, in the order of the motion's parts array. */
export const PART_NAMES = Object.freeze([...CONTRACT.parts]);
/** Where the hips stand at rest (metres in the room): a model's hips height over its y scales the hips' position. */
export const REST_HIPS_POSITION = Object.freeze([...CONTRACT.restHipsPosition]);
