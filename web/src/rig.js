// Face -> avatar parameters. Pure: no DOM, no time, no state.
//
// Input: one face from the gateway (478 landmarks, optionally 52 blendshapes)
// and the image size. KalidoKit solves head rotation (and, without
// blendshapes, eyes, pupils and mouth) from the landmark geometry; where
// MediaPipe's blendshapes exist they are the better signal for eyelids, gaze,
// jaw, smile and brows, so they win there.
//
// Output: a map of Live2D standard parameter ids (docs.live2d.com "Standard
// parameter list"): ParamAngleX + turns the face to the screen's right,
// ParamAngleY + up, ParamAngleZ + tilts to the screen's right, eyes 0 closed
// .. 1 open, eyeballs -1..1 (+ right / up), mouth open 0..1, form -1 (frown)
// .. 1 (smile), brows -1..1 (+ raised). The built-in avatar reads the same map.
//
// Mirror (default on, like KalidoKit's Live2D demo and every VTuber app): the
// avatar moves like your reflection. Turn to your left and it turns to the
// screen's left; close your right eye and its left eye (on the screen's right,
// where your mirror image's right eye is) closes.
import { Face } from "kalidokit/dist/kalidokit.es.js";
import { NUM_LANDMARKS, blendshapeMap } from "./protocol.js";
import { solveEyes } from "./eyes.js";

export const RANGES = Object.freeze({
  ParamAngleX: [-30, 30],
  ParamAngleY: [-30, 30],
  ParamAngleZ: [-30, 30],
  ParamBodyAngleX: [-10, 10],
  ParamBodyAngleY: [-10, 10],
  ParamBodyAngleZ: [-10, 10],
  ParamEyeLOpen: [0, 1],
  ParamEyeROpen: [0, 1],
  ParamEyeLSmile: [0, 1],
  ParamEyeRSmile: [0, 1],
  ParamEyeBallX: [-1, 1],
  ParamEyeBallY: [-1, 1],
  ParamBrowLY: [-1, 1],
  ParamBrowRY: [-1, 1],
  ParamMouthOpenY: [0, 1],
  ParamMouthForm: [-1, 1],
  ParamCheek: [0, 1],
});

/** Rest pose: what the avatar shows when nobody is tracked. */
export const NEUTRAL = Object.freeze({
  ParamAngleX: 0, ParamAngleY: 0, ParamAngleZ: 0,
  ParamBodyAngleX: 0, ParamBodyAngleY: 0, ParamBodyAngleZ: 0,
  ParamEyeLOpen: 1, ParamEyeROpen: 1, ParamEyeLSmile: 0, ParamEyeRSmile: 0,
  ParamEyeBallX: 0, ParamEyeBallY: 0,
  ParamBrowLY: 0, ParamBrowRY: 0,
  ParamMouthOpenY: 0, ParamMouthForm: 0.3, ParamCheek: 0,
});

// The body follows the head a little, for models without head/body sync
// (the KalidoKit demo's "dampener").
const BODY_FOLLOW = 0.3;

export function clamp(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Linear map of [lo, hi] onto [0, 1], clamped. */
export function remap01(v, lo, hi) {
  return clamp((v - lo) / (hi - lo), 0, 1);
}

/** Float32Array(478*3) -> [{x, y, z}], the shape KalidoKit expects. */
export function toPoints(landmarks) {
  const n = Math.floor(landmarks.length / 3);
  const pts = new Array(n);
  for (let i = 0; i < n; i++) pts[i] = { x: landmarks[3 * i], y: landmarks[3 * i + 1], z: landmarks[3 * i + 2] };
  return pts;
}


/** Run KalidoKit on one face. Returns its raw result (radians, degrees, 0..1). */
export function solveFace(landmarks, imageSize) {
  if (!landmarks || landmarks.length < NUM_LANDMARKS * 3) return null;
  // KalidoKit scales points by imageSize in place; toPoints makes fresh objects.
  return Face.solve(toPoints(landmarks), {
    runtime: "mediapipe",
    imageSize: imageSize ?? { width: 640, height: 480 },
    smoothBlink: false, // eyes.js decides per eye
  });
}

/**
 * The pure heart of the rig: KalidoKit result + blendshapes -> parameter map.
 * `kalido` may be null (then only blendshapes drive the face, head stays put).
 */
export function rigFromSolved(kalido, blendshapes, { mirror = true } = {}) {
  const p = { ...NEUTRAL };
  const bs = blendshapes && !Array.isArray(blendshapes) && !(blendshapes instanceof Float32Array)
    ? blendshapes
    : blendshapeMap(blendshapes);
  const sx = mirror ? 1 : -1; // horizontal sign: screen-space mirror or not

  // Head. KalidoKit's degrees are a 3D rotation; Live2D's X/Y are swapped
  // (X = yaw, Y = pitch), as in the KalidoKit Live2D demo.
  const head = kalido?.head?.degrees;
  if (head) {
    p.ParamAngleX = sx * head.y;
    p.ParamAngleY = head.x;
    p.ParamAngleZ = sx * head.z;
    p.ParamBodyAngleX = p.ParamAngleX * BODY_FOLLOW;
    p.ParamBodyAngleY = p.ParamAngleY * BODY_FOLLOW;
    p.ParamBodyAngleZ = p.ParamAngleZ * BODY_FOLLOW;
  }

  // Eyes: each from its own blendshape (eyes.js), so winks show.
  Object.assign(p, solveEyes(bs, kalido, { mirror }));

  // Gaze.
  if (bs) {
    // Subject looks toward the image's right = their own left: their left eye
    // looks out, their right eye looks in.
    const towardImageRight = (bs.eyeLookOutLeft + bs.eyeLookInRight - bs.eyeLookInLeft - bs.eyeLookOutRight) / 2;
    const up = (bs.eyeLookUpLeft + bs.eyeLookUpRight - bs.eyeLookDownLeft - bs.eyeLookDownRight) / 2;
    // Mirrored, looking toward the image's right shows as looking to the screen's left.
    p.ParamEyeBallX = -sx * towardImageRight * 1.6;
    p.ParamEyeBallY = up * 1.6;
  } else if (kalido?.pupil) {
    p.ParamEyeBallX = sx * kalido.pupil.x;
    p.ParamEyeBallY = kalido.pupil.y;
  }

  // Mouth.
  if (bs) {
    p.ParamMouthOpenY = remap01(bs.jawOpen - 0.5 * bs.mouthClose, 0.03, 0.5);
    const smile = (bs.mouthSmileLeft + bs.mouthSmileRight) / 2;
    const frown = (bs.mouthFrownLeft + bs.mouthFrownRight) / 2;
    const narrow = Math.max(bs.mouthPucker, bs.mouthFunnel);
    p.ParamMouthForm = clamp(1.4 * smile - 1.6 * frown - 0.6 * narrow, -1, 1);
    p.ParamCheek = remap01(smile + (bs.cheekSquintLeft + bs.cheekSquintRight) / 2, 0.4, 1.2);
    // A big smile squints the eyes: Live2D's eye-smile parameters.
    const eyeSmileImgLeft = remap01(bs.cheekSquintRight + bs.eyeSquintRight * 0.5, 0.2, 0.8);
    const eyeSmileImgRight = remap01(bs.cheekSquintLeft + bs.eyeSquintLeft * 0.5, 0.2, 0.8);
    p.ParamEyeLSmile = mirror ? eyeSmileImgLeft : eyeSmileImgRight;
    p.ParamEyeRSmile = mirror ? eyeSmileImgRight : eyeSmileImgLeft;
  } else if (kalido?.mouth) {
    p.ParamMouthOpenY = kalido.mouth.y;
    p.ParamMouthForm = 0.3 + kalido.mouth.x; // the demo's "default is a bit of a smile"
  }

  // Brows.
  if (bs) {
    const browImgLeft = 0.8 * bs.browInnerUp + bs.browOuterUpRight - 1.5 * bs.browDownRight;
    const browImgRight = 0.8 * bs.browInnerUp + bs.browOuterUpLeft - 1.5 * bs.browDownLeft;
    p.ParamBrowLY = (mirror ? browImgLeft : browImgRight) * 1.5;
    p.ParamBrowRY = (mirror ? browImgRight : browImgLeft) * 1.5;
  } else if (kalido && Number.isFinite(kalido.brow)) {
    p.ParamBrowLY = p.ParamBrowRY = kalido.brow * 2 - 1;
  }

  for (const [k, [lo, hi]] of Object.entries(RANGES)) p[k] = clamp(Number.isFinite(p[k]) ? p[k] : NEUTRAL[k], lo, hi);
  return p;
}

/**
 * One gateway face -> {params, kalido}. `face` is what protocol.parseMessage
 * yields: {landmarks: Float32Array, blendshapes: Float32Array|null}.
 */
export function rigFromFace(face, imageSize, opts = {}) {
  const kalido = solveFace(face.landmarks, imageSize);
  return { params: rigFromSolved(kalido, face.blendshapes, opts), kalido };
}
