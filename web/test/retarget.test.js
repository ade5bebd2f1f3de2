import { test } from "node:test";
import assert from "node:assert/strict";
import { solve, mirrorState, REST, SIDES } from "../src/solve.js";
import { StateFilter } from "../src/state-filter.js";
import { describeModel, retargetVrm } from "../src/retarget-vrm.js";
import { live2dParams, armPose, findArmParams, armParamValues } from "../src/retarget-live2d.js";
import { plan, isVrm, avatarKinds } from "../src/avatars.js";
import { buildBuiltinVrm } from "../tools/build-vrm.mjs";
import { ARKIT_NAMES, PRESETS } from "../src/vrm-expressions.js";
import { IDENTITY, angleBetween, DEG } from "../src/quat.js";
import { recording, solveInput } from "./helpers.js";

const rec = recording("gesture");
const solved = rec.results.map((r) => solve(solveInput(r)));

function filtered(indices) {
  const f = new StateFilter();
  let s;
  for (const [k, i] of indices.entries()) s = f.filter(solved[i], k * 40);
  return s;
}

test("the body filter eases a lost joint back to rest, never jumping", () => {
  const f = new StateFilter();
  let s;
  for (let k = 0; k < 20; k++) s = f.filter(solved[45], k * 40);
  assert.ok(angleBetween(s.bones.rightUpperArm, solved[45].bones.rightUpperArm) < 2 * DEG);
  let prev = s.bones.rightUpperArm;
  const lost = solve({ t: 0 });
  for (let k = 20; k < 100; k++) {
    s = f.filter(lost, k * 40);
    assert.ok(angleBetween(prev, s.bones.rightUpperArm) < 20 * DEG, `step ${k} jumps`);
    prev = s.bones.rightUpperArm;
  }
  assert.ok(angleBetween(s.bones.rightUpperArm, REST.rightUpperArm) < 3 * DEG, "back at rest");
  assert.ok(angleBetween(s.bones.head, IDENTITY) < 3 * DEG);
  assert.equal(s.expressions.blinkLeft < 0.05, true);
});

test("VRM retarget: mirror moves the avatar's LEFT arm for the subject's right; VRM 0.x turns the frame", () => {
  const s = filtered(Array(20).fill(45));
  const model = describeModel({ metaVersion: "1", expressionNames: ["aa", "blink", "happy"] });
  const m = retargetVrm(s, model, { mirror: true });
  assert.ok(angleBetween(m.bones.leftUpperArm, mirrorState(s).bones.leftUpperArm) < 1e-9);
  assert.ok(angleBetween(m.bones.leftUpperArm, REST.leftUpperArm) > 30 * DEG, "mirrored: the left arm is raised");
  const u = retargetVrm(s, model, { mirror: false });
  assert.ok(angleBetween(u.bones.rightUpperArm, REST.rightUpperArm) > 30 * DEG, "unmirrored: the right arm");
  const v0 = retargetVrm(s, describeModel({ metaVersion: "0" }), { mirror: false });
  const q = u.bones.rightUpperArm;
  assert.deepEqual(v0.bones.rightUpperArm, [-q[0], q[1], -q[2], q[3]]);
  assert.deepEqual(Object.keys(m.expressions).sort(), ["aa", "happy"], "only presets the model has (blink is not driven by the state)");
  assert.equal(m.lookAt.yaw, -s.gaze.yaw);
});

test("Perfect Sync: a model with the ARKit expressions gets them all, presets held at 0", () => {
  const names = [...Object.keys(PRESETS), ...ARKIT_NAMES.map((n) => n[0].toUpperCase() + n.slice(1))];
  const model = describeModel({ expressionNames: names });
  assert.ok(model.perfectSync && model.eyeLookExpressions);
  const s = filtered(Array(10).fill(48));
  const out = retargetVrm(s, model, { mirror: false });
  assert.equal(out.expressions.MouthSmileLeft, s.blendshapes.mouthSmileLeft, "case-insensitive names");
  assert.equal(out.expressions.happy, 0);
  assert.equal(out.lookAt, null, "eyeLook expressions move the eyes");
  assert.equal(Object.keys(out.expressions).filter((n) => /^[A-Z]/.test(n)).length, 51);
});

test("2D retarget: body angles from the torso, arm pose per avatar side, model arm parameters", () => {
  const s = filtered(Array(20).fill(45));
  const p = live2dParams({ ParamEyeLOpen: 1 }, s);
  assert.equal(p.ParamEyeLOpen, 1);
  for (const k of ["ParamAngleX", "ParamAngleY", "ParamAngleZ", "ParamBodyAngleX"]) assert.ok(Number.isFinite(p[k]), k);
  const arms = armPose(s);
  assert.ok(arms.left.lowerDir[1] > 0.5 && arms.right.lowerDir[1] < 0.3, "mirrored: the left forearm is up");
  assert.ok(arms.left.elevation > arms.right.elevation);
  const found = findArmParams(["ParamArmLA", "ParamArmLB", "ParamHandL", "ParamArmRA", "ParamAngleX"]);
  assert.deepEqual(found.ParamArmLB, { side: "left", channel: "bend" });
  assert.equal(found.ParamAngleX, undefined);
  const values = armParamValues(arms, found, { ParamArmLA: { min: -10, max: 10 }, ParamArmRA: { min: -10, max: 10 }, ParamArmLB: { min: 0, max: 1 }, ParamHandL: { min: 0, max: 1 } });
  assert.ok(values.ParamArmLA > values.ParamArmRA);
  const thumbs = armPose(filtered(Array(20).fill(120)));
  assert.ok(thumbs.left.grip > 0.4, `grip ${thumbs.left.grip}`);
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
  // its sides are VRM's: the left arm at +X, like the solve's rest direction
  assert.ok(SIDES.left.d0[0] > 0);
});
