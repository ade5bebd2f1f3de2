import { test } from "node:test";
import assert from "node:assert/strict";
import { rigFromFace, rigFromSolved, solveFace, NEUTRAL, RANGES, toPoints } from "../src/rig.js";
import { BLENDSHAPE_NAMES } from "../src/protocol.js";
import { fixture, yawLandmarks } from "./helpers.js";

const straight = fixture("straight");
const bsIndex = (name) => BLENDSHAPE_NAMES.indexOf(name);

function withBlendshapes(face, values) {
  const bs = Float32Array.from(face.blendshapes);
  for (const [k, v] of Object.entries(values)) bs[bsIndex(k)] = v;
  return { ...face, blendshapes: bs };
}

test("fixture blendshape names are MediaPipe's order as the protocol module knows it", () => {
  assert.deepEqual(straight.blendshapeNames, [...BLENDSHAPE_NAMES]);
});

test("toPoints converts the flat array into 478 {x,y,z}", () => {
  const pts = toPoints(straight.face.landmarks);
  assert.equal(pts.length, 478);
  assert.ok(Math.abs(pts[1].x - straight.landmarks[1][0]) < 1e-6);
});

test("a frontal face gives a near-neutral head and every parameter within range", () => {
  const { params } = rigFromFace(straight.face, straight.imageSize);
  assert.ok(Math.abs(params.ParamAngleX) < 6, `yaw ${params.ParamAngleX}`);
  assert.ok(Math.abs(params.ParamAngleZ) < 6, `roll ${params.ParamAngleZ}`);
  for (const [k, [lo, hi]] of Object.entries(RANGES)) {
    assert.ok(params[k] >= lo && params[k] <= hi, `${k}=${params[k]} outside ${lo}..${hi}`);
  }
  // the astronaut smiles with open eyes and a closed mouth
  assert.ok(params.ParamEyeLOpen > 0.9 && params.ParamEyeROpen > 0.9);
  assert.ok(params.ParamMouthOpenY < 0.1);
  assert.ok(params.ParamMouthForm > 0.5, `smile ${params.ParamMouthForm}`);
});

test("turning the head gives ParamAngleX of opposite signs (mirror: nose to image right = screen left)", () => {
  const size = straight.imageSize;
  const right = rigFromFace({ ...straight.face, landmarks: yawLandmarks(straight.face.landmarks, 25, size) }, size).params;
  const left = rigFromFace({ ...straight.face, landmarks: yawLandmarks(straight.face.landmarks, -25, size) }, size).params;
  assert.ok(right.ParamAngleX < -12, `nose toward image right: ParamAngleX ${right.ParamAngleX}`);
  assert.ok(left.ParamAngleX > 12, `nose toward image left: ParamAngleX ${left.ParamAngleX}`);
  // the body follows, damped
  assert.ok(right.ParamBodyAngleX < 0 && Math.abs(right.ParamBodyAngleX) < Math.abs(right.ParamAngleX));
  // unmirrored, the sign flips
  const raw = rigFromFace({ ...straight.face, landmarks: yawLandmarks(straight.face.landmarks, 25, size) }, size, { mirror: false }).params;
  assert.ok(raw.ParamAngleX > 12, `unmirrored ${raw.ParamAngleX}`);
});

test("real rotated photos tilt the head: ParamAngleZ follows the roll", () => {
  const ccw = fixture("rollp20"); // photo rotated 20 deg counter-clockwise
  const cw = fixture("rollm20");
  const a = rigFromFace(ccw.face, ccw.imageSize).params.ParamAngleZ;
  const b = rigFromFace(cw.face, cw.imageSize).params.ParamAngleZ;
  assert.ok(a > 10, `ccw photo (mirrored: tilt to screen right) ParamAngleZ ${a}`);
  assert.ok(b < -10, `cw photo ParamAngleZ ${b}`);
});

test("the mirrored photo mirrors the roll of the original", () => {
  const m = fixture("mirrored");
  const a = rigFromFace(straight.face, straight.imageSize).params.ParamAngleZ;
  const b = rigFromFace(m.face, m.imageSize).params.ParamAngleZ;
  assert.ok(Math.sign(a) === -Math.sign(b) && Math.abs(a + b) < 2, `${a} vs ${b}`);
});

test("blendshapes drive eyelids per side: subject's right eye -> avatar's left eye when mirrored", () => {
  const wink = withBlendshapes(straight.face, { eyeBlinkRight: 0.9, eyeBlinkLeft: 0.02 });
  const m = rigFromFace(wink, straight.imageSize).params;
  assert.ok(m.ParamEyeLOpen < 0.2 && m.ParamEyeROpen > 0.8, `mirrored wink L=${m.ParamEyeLOpen} R=${m.ParamEyeROpen}`);
  const u = rigFromFace(wink, straight.imageSize, { mirror: false }).params;
  assert.ok(u.ParamEyeROpen < 0.2 && u.ParamEyeLOpen > 0.8, `unmirrored wink L=${u.ParamEyeLOpen} R=${u.ParamEyeROpen}`);
  const both = rigFromFace(withBlendshapes(straight.face, { eyeBlinkRight: 0.8, eyeBlinkLeft: 0.75 }), straight.imageSize).params;
  assert.ok(both.ParamEyeLOpen < 0.2 && both.ParamEyeROpen < 0.2, "a blink closes both eyes");
});

test("jawOpen opens the mouth; frown bends the mouth down; browInnerUp raises the brows", () => {
  const open = rigFromFace(withBlendshapes(straight.face, { jawOpen: 0.5 }), straight.imageSize).params;
  assert.ok(open.ParamMouthOpenY > 0.9, `open ${open.ParamMouthOpenY}`);
  const frown = rigFromFace(withBlendshapes(straight.face, { mouthSmileLeft: 0, mouthSmileRight: 0, mouthFrownLeft: 0.6, mouthFrownRight: 0.6 }), straight.imageSize).params;
  assert.ok(frown.ParamMouthForm < -0.5, `frown ${frown.ParamMouthForm}`);
  const brows = rigFromFace(withBlendshapes(straight.face, { browInnerUp: 0.8, browOuterUpLeft: 0.5, browOuterUpRight: 0.5 }), straight.imageSize).params;
  assert.ok(brows.ParamBrowLY > 0.8 && brows.ParamBrowRY > 0.8);
  const down = rigFromFace(withBlendshapes(straight.face, { browInnerUp: 0, browOuterUpLeft: 0, browOuterUpRight: 0, browDownLeft: 0.6, browDownRight: 0.6 }), straight.imageSize).params;
  assert.ok(down.ParamBrowLY < -0.8);
});

test("gaze: looking toward the image's right moves the eyeballs to the screen's left when mirrored", () => {
  const look = withBlendshapes(straight.face, { eyeLookOutLeft: 0.6, eyeLookInRight: 0.6, eyeLookInLeft: 0, eyeLookOutRight: 0 });
  assert.ok(rigFromFace(look, straight.imageSize).params.ParamEyeBallX < -0.5);
  assert.ok(rigFromFace(look, straight.imageSize, { mirror: false }).params.ParamEyeBallX > 0.5);
  const up = withBlendshapes(straight.face, { eyeLookUpLeft: 0.5, eyeLookUpRight: 0.5, eyeLookDownLeft: 0, eyeLookDownRight: 0 });
  assert.ok(rigFromFace(up, straight.imageSize).params.ParamEyeBallY > 0.5);
});

test("without blendshapes KalidoKit's landmark geometry drives eyes and mouth", () => {
  const { params, kalido } = rigFromFace({ landmarks: straight.face.landmarks, blendshapes: null }, straight.imageSize);
  assert.ok(kalido && kalido.head && kalido.eye);
  assert.ok(params.ParamEyeLOpen > 0.8, `open eyes from geometry ${params.ParamEyeLOpen}`);
  assert.ok(Number.isFinite(params.ParamMouthForm));
});

test("no KalidoKit result and no blendshapes: the rest pose", () => {
  assert.deepEqual(rigFromSolved(null, null), { ...NEUTRAL });
  assert.equal(solveFace(new Float32Array(10), straight.imageSize), null);
});
