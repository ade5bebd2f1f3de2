import { test } from "node:test";
import assert from "node:assert/strict";
import { describeModel, hipsPosition, retargetVrm } from "../src/retarget-vrm.js";
import { armPose, findArmParams, armParamValues } from "../src/retarget-live2d.js";
import { plan, isVrm, avatarKinds } from "../src/avatars.js";
import { buildBuiltinVrm } from "../tools/build-vrm.mjs";
import { ARKIT_NAMES, PRESETS } from "../src/vrm-expressions.js";
import { REST } from "../src/contract.js";
import { angleBetween } from "../src/quat.js";

const DEG = Math.PI / 180;
import { heldStates } from "./helpers.js";

// What the page holds after each frame of gesture_video.mp4 (the gateway's rig, mirrored and not):
// the subject raises the right hand (frames 40-55), then a thumbs-up (from about 90).
const mirrored = heldStates("mirrored");
const plain = heldStates("plain");
const BONES = ["hips", "spine", "chest", "neck", "head", ...["left", "right"].flatMap((s) => [
  `${s}UpperArm`, `${s}LowerArm`, `${s}Hand`, `${s}IndexIntermediate`, `${s}IndexProximal`])];

test("VRM retarget: the motion's bones as they are (mirrored by the gateway); VRM 0.x turns the frame", () => {
  const model = describeModel({ metaVersion: "1", expressionNames: ["aa", "blink", "happy"], boneNames: BONES });
  const { state } = mirrored[50];
  const m = retargetVrm(state, model);
  assert.deepEqual(m.bones.leftUpperArm, state.bones.leftUpperArm);
  assert.ok(angleBetween(m.bones.leftUpperArm, REST.leftUpperArm) > 30 * DEG, "mirrored: the left arm is raised");
  assert.equal(m.bones.rightThumbProximal, undefined, "only bones the model has");
  const u = retargetVrm(plain[50].state, model);
  assert.ok(angleBetween(u.bones.rightUpperArm, REST.rightUpperArm) > 30 * DEG, "unmirrored: the right arm");
  const v0 = retargetVrm(plain[50].state, describeModel({ metaVersion: "0", boneNames: BONES }));
  const q = u.bones.rightUpperArm;
  assert.deepEqual(v0.bones.rightUpperArm, [-q[0], q[1], -q[2], q[3]]);
  assert.deepEqual(Object.keys(m.expressions).sort(), ["aa", "happy"], "only presets the model has (blink is not driven by the state)");
  assert.equal(m.lookAt.yaw, state.gaze.yaw);
  assert.equal(m.lookAt.pitch, -state.gaze.pitch, "three-vrm's pitch is + down");
});

test("VRM hips: the motion's travel from the rig's rest, scaled by the model's hips height over 0.80 m", () => {
  const model = describeModel({ boneNames: BONES, hipsRest: [0, 0.9, 0.01] });
  const near = (a, b) => a.every((v, i) => Math.abs(v - b[i]) < 1e-9);
  const k = 0.9 / 0.8;
  assert.ok(near(hipsPosition({ hipsPosition: [0.3, 0.6, -0.2] }, model), [0.3 * k, 0.6 * k, 0.01 - 0.2 * k]), "a step aside, a crouch, a step back");
  assert.ok(near(hipsPosition({ hipsPosition: null }, model), [0, 0.9, 0.01]), "not placed: at rest");
  const vrm0 = describeModel({ metaVersion: "0", boneNames: BONES, hipsRest: [0, 0.9, 0.01] });
  assert.ok(near(hipsPosition({ hipsPosition: [0.3, 0.8, -0.2] }, vrm0), [-0.3 * k, 0.9, 0.01 + 0.2 * k]), "VRM 0.x: its frame turned");
  assert.equal(hipsPosition({ hipsPosition: [0, 0.8, 0] }, describeModel({ boneNames: BONES })), null, "no hips");
  assert.deepEqual(retargetVrm(mirrored[50].state, model).hips, [0, 0.9, 0.01], "gesture_video.mp4: the body is never placed");
});

test("Perfect Sync: a model with the ARKit expressions gets them all, presets held at 0", () => {
  const names = [...Object.keys(PRESETS), ...ARKIT_NAMES.map((n) => n[0].toUpperCase() + n.slice(1))];
  const model = describeModel({ expressionNames: names });
  assert.ok(model.perfectSync && model.eyeLookExpressions);
  const { state } = plain[48];
  const out = retargetVrm(state, model);
  assert.equal(out.expressions.MouthSmileLeft, state.blendshapes.mouthSmileLeft, "case-insensitive names");
  assert.equal(out.expressions.happy, 0);
  assert.equal(out.lookAt, null, "eyeLook expressions move the eyes");
  assert.equal(Object.keys(out.expressions).filter((n) => /^[A-Z]/.test(n)).length, 51);
});

test("2D retarget: arm pose per avatar side and the model's arm parameters", () => {
  const arms = armPose(mirrored[50].state);
  assert.ok(arms.left.lowerDir[1] > 0.5 && arms.right.lowerDir[1] < 0.3, "mirrored: the left forearm is up");
  assert.ok(arms.left.elevation > arms.right.elevation);
  assert.ok(armPose(plain[50].state).right.lowerDir[1] > 0.5, "unmirrored: the right forearm");
  const found = findArmParams(["ParamArmLA", "ParamArmLB", "ParamHandL", "ParamArmRA", "ParamAngleX"]);
  assert.deepEqual(found.ParamArmLB, { side: "left", channel: "bend" });
  assert.equal(found.ParamAngleX, undefined);
  const values = armParamValues(arms, found, { ParamArmLA: { min: -10, max: 10 }, ParamArmRA: { min: -10, max: 10 }, ParamArmLB: { min: 0, max: 1 }, ParamHandL: { min: 0, max: 1 } });
  assert.ok(values.ParamArmLA > values.ParamArmRA);
  assert.ok(armPose(mirrored[120].state).left.grip > 0.4, "the thumbs-up: a fist with the thumb up");
  // the rest pose: arms hanging
  const rest = armPose({ bones: { ...REST } });
  assert.ok(rest.left.elevation < 30 && rest.right.elevation < 30);
});

test("Live2D parameters come with the motion, mirrored there: a head turn shows on the other side", () => {
  for (const [k, { live2d }] of mirrored.entries()) {
    const p = plain[k].live2d;
    assert.ok(Math.abs(live2d.ParamAngleX + p.ParamAngleX) < 1e-5, `frame ${k}: x negated`);
    assert.ok(Math.abs(live2d.ParamEyeLOpen - p.ParamEyeROpen) < 1e-6, `frame ${k}: eyes swapped`);
  }
});

test("avatar registry: ?avatar=vrm and .vrm URLs pick VRM with fallbacks; Live2D; built-in last", () => {
  assert.deepEqual(avatarKinds(), ["vrm", "live2d", "builtin"]);
  const steps = (o) => plan({ model: "", avatar: "", ...o }).map((s) => `${s.kind.kind}:${s.target}`);
  assert.deepEqual(steps({ avatar: "vrm" }), ["vrm:builtin-avatar.vrm", "builtin:null"]);
  assert.deepEqual(steps({ model: "https://x/a.VRM?v=1" }), ["vrm:https://x/a.VRM?v=1", "vrm:builtin-avatar.vrm", "builtin:null"]);
  assert.deepEqual(steps({ model: "m/a.model3.json" }), ["live2d:m/a.model3.json", "builtin:null"]);
  assert.deepEqual(steps({}), ["builtin:null"]);
  assert.ok(isVrm({ model: "", avatar: "vrm" }) && !isVrm({ model: "a.json" }));
});

test("the built-in VRM: reproducible bytes, VRM 1.0 humanoid with fingers, 52 ARKit morphs and the presets", () => {
  const a = buildBuiltinVrm();
  assert.deepEqual(a, buildBuiltinVrm(), "same bytes every build");
  const v = new DataView(a.buffer, a.byteOffset);
  assert.equal(v.getUint32(0, true), 0x46546c67);
  const json = JSON.parse(new TextDecoder().decode(a.subarray(20, 20 + v.getUint32(12, true))));
  const vrm = json.extensions.VRMC_vrm;
  assert.equal(vrm.specVersion, "1.0");
  const bones = Object.keys(vrm.humanoid.humanBones);
  for (const b of ["hips", "spine", "chest", "neck", "head", "leftEye", "leftUpperArm", "rightHand", "leftThumbMetacarpal", "rightLittleDistal", "leftUpperLeg", "rightLowerLeg", "leftFoot", "rightToes"]) {
    assert.ok(bones.includes(b), b);
  }
  assert.equal(ARKIT_NAMES.length, 52);
  assert.deepEqual(Object.keys(vrm.expressions.custom), [...ARKIT_NAMES]);
  for (const p of ["blink", "blinkLeft", "blinkRight", "aa", "ih", "ou", "ee", "oh", "happy", "angry", "sad", "relaxed", "surprised"]) {
    assert.ok(vrm.expressions.preset[p].morphTargetBinds.length > 0, p);
  }
  const face = json.meshes.find((m) => m.name === "Face");
  for (const prim of face.primitives) assert.equal(prim.targets.length, 52);
  // every ARKit morph moves something
  for (let i = 0; i < 52; i++) assert.ok(face.primitives.some((p) => json.accessors[p.targets[i].POSITION].sparse), ARKIT_NAMES[i]);
  // every rest rotation is identity (no node has a rotation)
  assert.ok(json.nodes.every((n) => !n.rotation));
  // its sides are VRM's: the left arm at +X, the T-pose the rig's rotations are relative to
  const node = (name) => json.nodes[vrm.humanoid.humanBones[name].node];
  assert.ok(node("leftLowerArm").translation[0] > 0);
});
