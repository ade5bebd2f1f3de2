// The built-in VRM avatar's expressions (tools/build-vrm.mjs makes the
// avatar; the rig benchmark uses the same names). ARKit's 52 blendshape names
// (MediaPipe's 51 without "_neutral", plus tongueOut), and the VRM presets as
// mixes of them.

export const ARKIT_NAMES = Object.freeze([
  "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
  "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
  "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
  "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
  "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight",
  "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
  "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker",
  "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
  "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
  "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
]);

// VRM presets as mixes of the ARKit morphs (weights 0..1).
export const PRESETS = Object.freeze({
  blink: { eyeBlinkLeft: 1, eyeBlinkRight: 1 },
  blinkLeft: { eyeBlinkLeft: 1 },
  blinkRight: { eyeBlinkRight: 1 },
  aa: { jawOpen: 1 },
  ih: { jawOpen: 0.35, mouthStretchLeft: 0.7, mouthStretchRight: 0.7 },
  ou: { mouthPucker: 1, jawOpen: 0.15 },
  ee: { mouthStretchLeft: 1, mouthStretchRight: 1, mouthSmileLeft: 0.3, mouthSmileRight: 0.3, jawOpen: 0.1 },
  oh: { mouthFunnel: 1, jawOpen: 0.5 },
  happy: { mouthSmileLeft: 1, mouthSmileRight: 1, cheekSquintLeft: 1, cheekSquintRight: 1, eyeSquintLeft: 0.6, eyeSquintRight: 0.6 },
  angry: { browDownLeft: 1, browDownRight: 1, mouthFrownLeft: 0.6, mouthFrownRight: 0.6, noseSneerLeft: 0.4, noseSneerRight: 0.4 },
  sad: { browInnerUp: 1, mouthFrownLeft: 1, mouthFrownRight: 1 },
  relaxed: { mouthSmileLeft: 0.5, mouthSmileRight: 0.5, eyeBlinkLeft: 0.35, eyeBlinkRight: 0.35 },
  surprised: { browInnerUp: 1, browOuterUpLeft: 1, browOuterUpRight: 1, eyeWideLeft: 1, eyeWideRight: 1, jawOpen: 0.4 },
});

