// Eyelids: MediaPipe's blendshapes (or KalidoKit's geometry) -> how open each
// of the avatar's eyes is. Pure: no DOM, no time, no state.
//
// Each eye follows its own blendshape, so winks show. The map is steep: the
// recordings idle at eyeBlink 0.05-0.25 (higher looking down) and a closed
// eye scores 0.5-0.6, so at or below `openBelow` the eye is fully open (no
// idle jitter, no droop) and at or above `closedAbove` fully closed (a blink
// the blendshapes show reaches closed even when it lasts a single result).
//
// The one stabilisation kept: with the head turned beyond `turnedYawRad`, the
// far eye is half hidden and its score unreliable, so both eyes copy the near
// one (KalidoKit's stabilizeBlink does the same). KalidoKit's other rule, both
// eyes follow the more closed one unless they differ by 0.8 or more, is gone:
// it hid every wink and smoothed no flicker the blendshapes have.
//
// Sides: "imageLeft" is the eye on the image's left, the subject's RIGHT eye
// (MediaPipe's eyeBlinkRight: ARKit names are the subject's sides).
import TUNING_FILE from "../../live2d_pose/rig/tuning.json" with { type: "json" };

/** {openBelow, closedAbove, turnedYawRad}: shared with live2d_pose/rig/eyes.py. */
export const EYE_TUNING = Object.freeze({ ...TUNING_FILE.eyes });

const clamp01 = (v) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** One eyeBlink score -> openness, 1 open .. 0 closed. */
export function eyeOpenness(blink, tuning = EYE_TUNING) {
  if (!Number.isFinite(blink)) return 1;
  return 1 - clamp01((blink - tuning.openBelow) / (tuning.closedAbove - tuning.openBelow));
}

/**
 * Openness of the eye on the image's left and right. `blendshapes`: a
 * {name: score} map or null; `kalidoEye`: KalidoKit's {l, r} (image sides),
 * used only without blendshapes.
 */
export function imageEyes(blendshapes, kalidoEye, tuning = EYE_TUNING) {
  if (blendshapes) {
    return { left: eyeOpenness(blendshapes.eyeBlinkRight, tuning), right: eyeOpenness(blendshapes.eyeBlinkLeft, tuning) };
  }
  if (kalidoEye) return { left: clamp01(kalidoEye.l), right: clamp01(kalidoEye.r) };
  return { left: 1, right: 1 };
}

/**
 * With the head turned far, the far eye copies the near one. `headYawRad` is
 * KalidoKit's head.y: negative when the nose points to the image's right,
 * which hides the eye on the image's right.
 */
export function stabilizeEyes(eyes, headYawRad, tuning = EYE_TUNING) {
  const yaw = Number.isFinite(headYawRad) ? headYawRad : 0;
  if (yaw > tuning.turnedYawRad) return { left: eyes.right, right: eyes.right };
  if (yaw < -tuning.turnedYawRad) return { left: eyes.left, right: eyes.left };
  return eyes;
}

/**
 * The avatar's eyes as Live2D parameters. Mirrored (default), the model's
 * left eye (on the screen's right) shows the image's left eye, the subject's
 * right: close your right eye and the eye on the screen's right closes.
 */
export function solveEyes(blendshapes, kalido, { mirror = true, tuning = EYE_TUNING } = {}) {
  const eyes = stabilizeEyes(imageEyes(blendshapes, kalido?.eye, tuning), kalido?.head?.y, tuning);
  return mirror
    ? { ParamEyeLOpen: eyes.left, ParamEyeROpen: eyes.right }
    : { ParamEyeLOpen: eyes.right, ParamEyeROpen: eyes.left };
}
