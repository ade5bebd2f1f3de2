// The built-in 3D avatar: a small VRM 1.0 made from primitive shapes, written
// byte for byte the same on every run (no clock, no randomness, fixed order).
//
//   node tools/build-vrm.mjs [OUT.vrm]     (npm run build writes dist/builtin-avatar.vrm)
//
// What it has, so tests know every bone and expression:
// - VRM 1.0 humanoid bones: hips, spine, chest, neck, head, both eyes,
//   shoulders, upper/lower arms, hands, every finger joint (thumb metacarpal,
//   proximal, distal; index/middle/ring/little proximal, intermediate,
//   distal), legs, feet and toes. Every node's rest rotation is identity (T-pose,
//   palms down, thumbs forward at 45°, facing +Z), so normalized and raw bones
//   coincide.
// - Morph targets on the face for the 52 ARKit blendshape names (Perfect
//   Sync: custom expressions with those names), and VRM presets bound to
//   them: blink, blinkLeft, blinkRight, aa, ih, ou, ee, oh, happy, angry,
//   sad, relaxed, surprised.
// - lookAt of type bone (the eyes turn), and a spring-bone ponytail.
//
// The GLB is written by hand (a JSON chunk and a BIN chunk; morph targets as
// sparse accessors so unmoved vertices cost nothing): small, and no glTF
// library needs to know VRM's extensions.
import { writeFileSync } from "node:fs";

import { ARKIT_NAMES, PRESETS } from "../src/vrm-expressions.js";

export { ARKIT_NAMES, PRESETS };

// ------------------------------------------------------------------ skeleton
// [name, parent, global rest position (m)]; the avatar faces +Z, its left is +X.
const HAND_X = 0.56;
const FINGER_ROWS = { Index: 0.024, Middle: 0.008, Ring: -0.008, Little: -0.024 };

function skeleton() {
  const b = [
    ["hips", null, [0, 0.8, 0]],
    ["spine", "hips", [0, 0.9, 0]],
    ["chest", "spine", [0, 1.02, 0]],
    ["neck", "chest", [0, 1.2, 0]],
    ["head", "neck", [0, 1.27, 0]],
    ["leftEye", "head", [0.045, 1.385, 0.1]],
    ["rightEye", "head", [-0.045, 1.385, 0.1]],
    ["hairRoot", "head", [0, 1.47, -0.1]],
    ["hair1", "hairRoot", [0, 1.38, -0.17]],
    ["hair2", "hair1", [0, 1.26, -0.19]],
    ["hair3", "hair2", [0, 1.14, -0.19]],
  ];
  for (const [side, sx] of [
    ["left", 1],
    ["right", -1],
  ]) {
    const L = (name) => `${side}${name}`;
    const y = 1.16;
    b.push(
      [L("Shoulder"), "chest", [0.03 * sx, y, 0]],
      [L("UpperArm"), L("Shoulder"), [0.13 * sx, y, 0]],
      [L("LowerArm"), L("UpperArm"), [0.34 * sx, y, 0]],
      [L("Hand"), L("LowerArm"), [HAND_X * sx, y, 0]],
      [L("ThumbMetacarpal"), L("Hand"), [(HAND_X + 0.015) * sx, y - 0.01, 0.022]],
      [L("ThumbProximal"), L("ThumbMetacarpal"), [(HAND_X + 0.037) * sx, y - 0.01, 0.044]],
      [L("ThumbDistal"), L("ThumbProximal"), [(HAND_X + 0.056) * sx, y - 0.01, 0.063]],
    );
    for (const [finger, z] of Object.entries(FINGER_ROWS)) {
      const len = finger === "Middle" ? 1 : finger === "Little" ? 0.75 : 0.9;
      b.push(
        [L(`${finger}Proximal`), L("Hand"), [(HAND_X + 0.075) * sx, y, z]],
        [L(`${finger}Intermediate`), L(`${finger}Proximal`), [(HAND_X + 0.075 + 0.035 * len) * sx, y, z]],
        [L(`${finger}Distal`), L(`${finger}Intermediate`), [(HAND_X + 0.075 + 0.058 * len) * sx, y, z]],
      );
    }
    b.push(
      [L("UpperLeg"), "hips", [0.08 * sx, 0.76, 0]],
      [L("LowerLeg"), L("UpperLeg"), [0.08 * sx, 0.42, 0]],
      [L("Foot"), L("LowerLeg"), [0.08 * sx, 0.07, 0]],
      [L("Toes"), L("Foot"), [0.08 * sx, 0.02, 0.11]],
    );
  }
  return b;
}

const NON_HUMANOID = new Set(["hairRoot", "hair1", "hair2", "hair3"]);
const FINGER_TIP = 0.02; // past the distal joint

// ------------------------------------------------------------------ geometry

const PALETTE = {
  skin: [1.0, 0.86, 0.78, 1],
  hair: [0.42, 0.31, 0.56, 1],
  hoodie: [0.5, 0.72, 0.94, 1],
  pants: [0.25, 0.28, 0.42, 1],
  white: [1, 1, 1, 1],
  iris: [0.2, 0.36, 0.72, 1],
  mouth: [0.55, 0.18, 0.25, 1],
  brow: [0.33, 0.24, 0.45, 1],
  blush: [1.0, 0.62, 0.66, 1],
  shoe: [0.95, 0.95, 0.98, 1],
};

class MeshBuilder {
  constructor() {
    this.prims = new Map(); // material -> {pos, nrm, joints, idx, tags}
  }

  prim(material) {
    if (!this.prims.has(material)) this.prims.set(material, { pos: [], nrm: [], joints: [], idx: [], tags: [] });
    return this.prims.get(material);
  }

  /** Ellipsoid at c with radii r, skinned to joint j; `tag` names the feature for morphs. */
  ellipsoid(material, c, r, j, { seg = 16, rings = 10, tag = null } = {}) {
    const p = this.prim(material);
    const base = p.pos.length / 3;
    for (let i = 0; i <= rings; i++) {
      const phi = (Math.PI * i) / rings;
      for (let k = 0; k <= seg; k++) {
        const th = (2 * Math.PI * k) / seg;
        const n = [Math.sin(phi) * Math.sin(th), Math.cos(phi), Math.sin(phi) * Math.cos(th)];
        p.pos.push(c[0] + r[0] * n[0], c[1] + r[1] * n[1], c[2] + r[2] * n[2]);
        const nn = normalize3([n[0] / r[0], n[1] / r[1], n[2] / r[2]]);
        p.nrm.push(...nn);
        p.joints.push(j);
        p.tags.push(tag);
      }
    }
    for (let i = 0; i < rings; i++) {
      for (let k = 0; k < seg; k++) {
        const a = base + i * (seg + 1) + k;
        const b = a + seg + 1;
        p.idx.push(a, b, a + 1, a + 1, b, b + 1);
      }
    }
  }

  /** A capsule-ish limb: a tube from a to b (radius r) closed with ellipsoid caps. */
  limb(material, a, b, r, j, { seg = 12 } = {}) {
    const p = this.prim(material);
    const axis = normalize3(sub3(b, a));
    const ref = Math.abs(axis[1]) > 0.9 ? [1, 0, 0] : [0, 1, 0];
    const u = normalize3(cross3(axis, ref));
    const v = cross3(axis, u);
    const base = p.pos.length / 3;
    for (const end of [a, b]) {
      for (let k = 0; k <= seg; k++) {
        const th = (2 * Math.PI * k) / seg;
        const n = [
          u[0] * Math.cos(th) + v[0] * Math.sin(th),
          u[1] * Math.cos(th) + v[1] * Math.sin(th),
          u[2] * Math.cos(th) + v[2] * Math.sin(th),
        ];
        p.pos.push(end[0] + n[0] * r, end[1] + n[1] * r, end[2] + n[2] * r);
        p.nrm.push(...n);
        p.joints.push(j);
        p.tags.push(null);
      }
    }
    for (let k = 0; k < seg; k++) {
      const i0 = base + k;
      const i1 = base + seg + 1 + k;
      p.idx.push(i0, i0 + 1, i1, i0 + 1, i1 + 1, i1);
    }
    this.ellipsoid(material, a, [r, r, r], j, { seg, rings: 6 });
    this.ellipsoid(material, b, [r, r, r], j, { seg, rings: 6 });
  }
}

const sub3 = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const cross3 = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
function normalize3(a) {
  const n = Math.hypot(a[0], a[1], a[2]) || 1;
  return [a[0] / n, a[1] / n, a[2] / n];
}

function bodyGeometry(pos, J) {
  const m = new MeshBuilder();
  const at = (name) => pos[name];
  const off = (p, d) => [p[0] + d[0], p[1] + d[1], p[2] + d[2]];
  // torso: hoodie
  m.ellipsoid("hoodie", [0, 1.02, 0], [0.17, 0.2, 0.11], J.chest);
  m.ellipsoid("hoodie", [0, 0.88, 0], [0.15, 0.14, 0.1], J.spine);
  m.ellipsoid("pants", [0, 0.78, 0], [0.155, 0.09, 0.1], J.hips);
  m.limb("skin", at("neck"), off(at("head"), [0, 0.03, 0]), 0.045, J.neck);
  // head, hair
  m.ellipsoid("skin", [0, 1.37, 0.0], [0.13, 0.14, 0.125], J.head, { seg: 24, rings: 16 });
  m.ellipsoid("hair", [0, 1.41, -0.015], [0.142, 0.14, 0.135], J.head, { seg: 24, rings: 16 });
  for (const sx of [1, -1])
    m.ellipsoid("skin", [0.128 * sx, 1.36, 0.0], [0.018, 0.03, 0.02], J.head, { seg: 8, rings: 6 });
  m.ellipsoid("hair", [0, 1.47, 0.055], [0.12, 0.05, 0.08], J.head, { seg: 16, rings: 8 }); // fringe
  m.limb("hair", at("hair1"), at("hair2"), 0.035, J.hair1);
  m.limb("hair", at("hair2"), at("hair3"), 0.03, J.hair2);
  m.ellipsoid("hair", off(at("hair3"), [0, -0.04, 0]), [0.03, 0.06, 0.03], J.hair3);
  for (const side of ["left", "right"]) {
    const L = (n) => `${side}${n}`;
    m.limb("hoodie", at(L("UpperArm")), at(L("LowerArm")), 0.045, J[L("UpperArm")]);
    m.limb("hoodie", at(L("LowerArm")), at(L("Hand")), 0.038, J[L("LowerArm")]);
    const sx = side === "left" ? 1 : -1;
    m.ellipsoid("skin", off(at(L("Hand")), [0.04 * sx, 0, 0]), [0.045, 0.015, 0.038], J[L("Hand")]);
    const tip = (joint, dir) => off(at(joint), dir);
    m.limb("skin", at(L("ThumbMetacarpal")), at(L("ThumbProximal")), 0.01, J[L("ThumbMetacarpal")], { seg: 8 });
    m.limb("skin", at(L("ThumbProximal")), at(L("ThumbDistal")), 0.009, J[L("ThumbProximal")], { seg: 8 });
    m.limb("skin", at(L("ThumbDistal")), tip(L("ThumbDistal"), [0.013 * sx, 0, 0.013]), 0.0085, J[L("ThumbDistal")], {
      seg: 8,
    });
    for (const f of Object.keys(FINGER_ROWS)) {
      const joints = [L(`${f}Proximal`), L(`${f}Intermediate`), L(`${f}Distal`)];
      m.limb("skin", at(joints[0]), at(joints[1]), 0.0085, J[joints[0]], { seg: 8 });
      m.limb("skin", at(joints[1]), at(joints[2]), 0.008, J[joints[1]], { seg: 8 });
      m.limb("skin", at(joints[2]), tip(joints[2], [FINGER_TIP * sx, 0, 0]), 0.0075, J[joints[2]], { seg: 8 });
    }
    m.limb("pants", at(L("UpperLeg")), at(L("LowerLeg")), 0.065, J[L("UpperLeg")]);
    m.limb("pants", at(L("LowerLeg")), at(L("Foot")), 0.055, J[L("LowerLeg")]);
    m.ellipsoid("shoe", off(at(L("Foot")), [0, -0.03, 0.035]), [0.055, 0.045, 0.085], J[L("Foot")]);
    m.ellipsoid("shoe", off(at(L("Toes")), [0, 0.0, 0.025]), [0.05, 0.03, 0.05], J[L("Toes")]);
  }
  return m;
}

// Face features, each tagged so the morph targets can move them.
function faceGeometry(J) {
  const m = new MeshBuilder();
  for (const [side, sx] of [
    ["Left", 1],
    ["Right", -1],
  ]) {
    const eye = side === "Left" ? J.leftEye : J.rightEye;
    m.ellipsoid("white", [0.045 * sx, 1.38, 0.108], [0.026, 0.032, 0.012], J.head, {
      tag: `eye${side}`,
      seg: 14,
      rings: 8,
    });
    m.ellipsoid("iris", [0.045 * sx, 1.378, 0.118], [0.017, 0.023, 0.006], eye, {
      tag: `iris${side}`,
      seg: 14,
      rings: 8,
    });
    m.ellipsoid("brow", [0.05 * sx, 1.43, 0.113], [0.028, 0.006, 0.006], J.head, {
      tag: `brow${side}`,
      seg: 10,
      rings: 4,
    });
    m.ellipsoid("blush", [0.075 * sx, 1.335, 0.095], [0.022, 0.011, 0.01], J.head, {
      tag: `cheek${side}`,
      seg: 10,
      rings: 4,
    });
  }
  m.ellipsoid("skin", [0, 1.35, 0.127], [0.011, 0.009, 0.008], J.head, { tag: "nose", seg: 8, rings: 6 });
  m.ellipsoid("mouth", [0, 1.305, 0.115], [0.026, 0.006, 0.008], J.head, { tag: "mouth", seg: 16, rings: 8 });
  m.ellipsoid("blush", [0, 1.3, 0.112], [0.012, 0.005, 0.006], J.head, { tag: "tongue", seg: 8, rings: 4 });
  return m;
}

// Displacement of one tagged vertex p (relative to its feature's centre c) for a blendshape.
function morph(name, tag, p, c) {
  const side = name.endsWith("Left") ? "Left" : name.endsWith("Right") ? "Right" : "";
  const sx = side === "Left" ? 1 : side === "Right" ? -1 : 0;
  const rel = sub3(p, c);
  const zero = [0, 0, 0];
  const isSide = (t) => !side || tag === `${t}${side}`;
  switch (name.replace(/(Left|Right)$/, "")) {
    case "eyeBlink":
      if (tag === `eye${side}` || tag === `iris${side}`)
        return [0, -rel[1] * 0.92 - 0.012 * (tag.startsWith("iris") ? 1 : 0.9), 0];
      return zero;
    case "eyeSquint":
      return isSide("eye") && tag.startsWith("eye") ? [0, rel[1] < 0 ? -rel[1] * 0.6 : 0, 0] : zero;
    case "eyeWide":
      return isSide("eye") && tag.startsWith("eye") ? scaleAbout(rel, [0.1, 0.3, 0]) : zero;
    case "eyeLookUp":
      return tag === `iris${side}` ? [0, 0.008, 0] : zero;
    case "eyeLookDown":
      return tag === `iris${side}` ? [0, -0.008, 0] : zero;
    case "eyeLookIn": // toward the nose
      return tag === `iris${side}` ? [-0.009 * sx, 0, 0] : zero;
    case "eyeLookOut":
      return tag === `iris${side}` ? [0.009 * sx, 0, 0] : zero;
    case "browDown":
      return tag === `brow${side}` ? [0, -0.01, 0] : zero;
    case "browOuterUp":
      return tag === `brow${side}` ? [0, 0.01 * Math.max(0, (rel[0] * sx) / 0.028 + 0.3), 0] : zero;
    case "browInnerUp":
      return tag?.startsWith("brow") ? [0, 0.012 * Math.max(0, (-rel[0] * Math.sign(c[0])) / 0.028 + 0.3), 0] : zero;
    case "cheekPuff":
      return tag?.startsWith("cheek") ? [0.01 * Math.sign(c[0]), 0, 0.008] : zero;
    case "cheekSquint":
      return tag === `cheek${side}` ? [0, 0.008, 0] : zero;
    case "noseSneer":
      return tag === "nose" ? [0.003 * sx, 0.004, 0] : zero;
    case "tongueOut":
      return tag === "tongue" ? [0, -0.006, 0.02] : zero;
    default:
      return mouthMorph(name, tag, rel, sx);
  }
}

function scaleAbout(rel, k) {
  return [rel[0] * k[0], rel[1] * k[1], rel[2] * k[2]];
}

function mouthMorph(name, tag, rel, sx) {
  if (tag !== "mouth" && !(tag === "tongue" && name === "jawOpen")) return [0, 0, 0];
  const corner = Math.min(1, Math.abs(rel[0]) / 0.026); // 0 centre .. 1 corner
  const onSide = sx === 0 || Math.sign(rel[0]) === sx;
  const upper = rel[1] > 0;
  switch (name) {
    case "jawOpen":
      return tag === "tongue" ? [0, -0.012, 0] : [0, upper ? 0 : -0.03 * (1 - corner * corner) - 0.004, 0];
    case "jawForward":
      return [0, 0, 0.008];
    case "jawLeft":
    case "jawRight":
      return [0.008 * sx, 0, 0];
    case "mouthClose":
      return [0, -rel[1] * 0.8, 0];
    case "mouthFunnel":
      return [-rel[0] * 0.45, rel[1] * 2.2, 0.006];
    case "mouthPucker":
      return [-rel[0] * 0.55, rel[1] * 0.8, 0.01];
    case "mouthLeft":
    case "mouthRight":
      return [0.01 * sx, 0, 0];
    case "mouthSmileLeft":
    case "mouthSmileRight":
      return onSide ? [0.004 * sx * corner, 0.012 * corner * corner, 0] : [0, 0, 0];
    case "mouthFrownLeft":
    case "mouthFrownRight":
      return onSide ? [0, -0.01 * corner * corner, 0] : [0, 0, 0];
    case "mouthStretchLeft":
    case "mouthStretchRight":
      return onSide ? [0.012 * sx * corner, 0, 0] : [0, 0, 0];
    case "mouthDimpleLeft":
    case "mouthDimpleRight":
      return onSide ? [0.005 * sx * corner, 0.002 * corner, -0.002] : [0, 0, 0];
    case "mouthPressLeft":
    case "mouthPressRight":
      return onSide ? [0, -rel[1] * 0.6, 0] : [0, 0, 0];
    case "mouthUpperUpLeft":
    case "mouthUpperUpRight":
      return onSide && upper ? [0, 0.006, 0] : [0, 0, 0];
    case "mouthLowerDownLeft":
    case "mouthLowerDownRight":
      return onSide && !upper ? [0, -0.008, 0] : [0, 0, 0];
    case "mouthRollLower":
      return !upper ? [0, 0.004, -0.004] : [0, 0, 0];
    case "mouthRollUpper":
      return upper ? [0, -0.004, -0.004] : [0, 0, 0];
    case "mouthShrugLower":
      return !upper ? [0, 0.005, 0.002] : [0, 0, 0];
    case "mouthShrugUpper":
      return upper ? [0, 0.005, 0.002] : [0, 0, 0];
    default:
      throw new Error(`no morph for ${name}`);
  }
}

// ------------------------------------------------------------------ glTF

class Bin {
  constructor() {
    this.chunks = [];
    this.length = 0;
    this.views = [];
  }

  view(typed, target) {
    const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
    const pad = (4 - (this.length % 4)) % 4;
    if (pad) this.push(new Uint8Array(pad));
    const view = { buffer: 0, byteOffset: this.length, byteLength: bytes.byteLength };
    if (target) view.target = target;
    this.push(bytes);
    this.views.push(view);
    return this.views.length - 1;
  }

  push(bytes) {
    this.chunks.push(bytes);
    this.length += bytes.byteLength;
  }

  bytes() {
    const out = new Uint8Array(this.length + ((4 - (this.length % 4)) % 4));
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    return out;
  }
}

function minMax(arr, n) {
  const min = new Array(n).fill(Infinity);
  const max = new Array(n).fill(-Infinity);
  for (let i = 0; i < arr.length; i++) {
    const k = i % n;
    min[k] = Math.min(min[k], arr[i]);
    max[k] = Math.max(max[k], arr[i]);
  }
  return { min: min.map(Math.fround), max: max.map(Math.fround) };
}

const ARRAY_BUFFER = 34962;
const ELEMENT_ARRAY_BUFFER = 34963;
const FLOAT = 5126;
const UNSIGNED_SHORT = 5123;
const UNSIGNED_INT = 5125;

/** Build the avatar; returns the .vrm (GLB) bytes. */
export function buildBuiltinVrm() {
  const bones = skeleton();
  const pos = Object.fromEntries(bones.map(([n, , p]) => [n, p]));
  const nodes = [{ name: "Root", children: [] }];
  const J = {}; // bone name -> joint index (order in skin.joints)
  const nodeOf = {}; // bone name -> node index
  for (const [name, parent, p] of bones) {
    const parentPos = parent ? pos[parent] : [0, 0, 0];
    nodeOf[name] = nodes.length;
    J[name] = bones.findIndex((b) => b[0] === name);
    nodes.push({ name, translation: sub3(p, parentPos).map(Math.fround) });
    const parentNode = parent ? nodes[nodeOf[parent]] : nodes[0];
    parentNode.children ??= [];
    parentNode.children.push(nodeOf[name]);
  }
  const bin = new Bin();
  const accessors = [];
  const accessor = (a) => accessors.push(a) - 1;

  const inverseBind = new Float32Array(bones.length * 16);
  bones.forEach(([, , p], i) => {
    inverseBind.set([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, -p[0], -p[1], -p[2], 1], 16 * i);
  });
  const ibm = accessor({ bufferView: bin.view(inverseBind), componentType: FLOAT, count: bones.length, type: "MAT4" });
  const skins = [
    { name: "skeleton", skeleton: nodeOf.hips, joints: bones.map(([n]) => nodeOf[n]), inverseBindMatrices: ibm },
  ];

  const materialNames = Object.keys(PALETTE);
  const materials = materialNames.map((name) => ({
    name,
    pbrMetallicRoughness: { baseColorFactor: PALETTE[name], metallicFactor: 0, roughnessFactor: 0.85 },
  }));

  const meshes = [];
  const writePrims = (builder, targetsFor) =>
    [...builder.prims.entries()].map(([material, p]) => {
      const position = new Float32Array(p.pos);
      const attributes = {
        POSITION: accessor({
          bufferView: bin.view(position, ARRAY_BUFFER),
          componentType: FLOAT,
          count: p.pos.length / 3,
          type: "VEC3",
          ...minMax(position, 3),
        }),
        NORMAL: accessor({
          bufferView: bin.view(new Float32Array(p.nrm), ARRAY_BUFFER),
          componentType: FLOAT,
          count: p.nrm.length / 3,
          type: "VEC3",
        }),
        JOINTS_0: accessor({
          bufferView: bin.view(new Uint16Array(p.joints.flatMap((j) => [j, 0, 0, 0])), ARRAY_BUFFER),
          componentType: UNSIGNED_SHORT,
          count: p.joints.length,
          type: "VEC4",
        }),
        WEIGHTS_0: accessor({
          bufferView: bin.view(new Float32Array(p.joints.flatMap(() => [1, 0, 0, 0])), ARRAY_BUFFER),
          componentType: FLOAT,
          count: p.joints.length,
          type: "VEC4",
        }),
      };
      const prim = {
        attributes,
        indices: accessor({
          bufferView: bin.view(new Uint16Array(p.idx), ELEMENT_ARRAY_BUFFER),
          componentType: UNSIGNED_SHORT,
          count: p.idx.length,
          type: "SCALAR",
        }),
        material: materialNames.indexOf(material),
      };
      if (targetsFor) prim.targets = targetsFor(p);
      return prim;
    });

  meshes.push({ name: "Body", primitives: writePrims(bodyGeometry(pos, J)) });
  const face = faceGeometry(J);
  // the centre of each tagged feature, for morphs that move relative to it
  const centres = {};
  for (const p of face.prims.values()) {
    p.tags.forEach((tag, i) => {
      if (!tag) return;
      centres[tag] ??= { s: [0, 0, 0], n: 0 };
      const c = centres[tag];
      for (let k = 0; k < 3; k++) c.s[k] += p.pos[3 * i + k];
      c.n += 1;
    });
  }
  const centre = (tag) => centres[tag].s.map((v) => v / centres[tag].n);
  const targetsFor = (p) =>
    ARKIT_NAMES.map((name) => {
      const indices = [];
      const values = [];
      p.tags.forEach((tag, i) => {
        if (!tag) return;
        const d = morph(name, tag, [p.pos[3 * i], p.pos[3 * i + 1], p.pos[3 * i + 2]], centre(tag));
        if (d[0] || d[1] || d[2]) {
          indices.push(i);
          values.push(...d);
        }
      });
      const count = p.pos.length / 3;
      if (indices.length === 0) {
        return { POSITION: accessor({ componentType: FLOAT, count, type: "VEC3", min: [0, 0, 0], max: [0, 0, 0] }) };
      }
      const v = new Float32Array(values);
      const mm = minMax(v, 3);
      return {
        POSITION: accessor({
          componentType: FLOAT,
          count,
          type: "VEC3",
          min: mm.min.map((x) => Math.min(0, x)),
          max: mm.max.map((x) => Math.max(0, x)),
          sparse: {
            count: indices.length,
            indices: { bufferView: bin.view(new Uint32Array(indices)), componentType: UNSIGNED_INT },
            values: { bufferView: bin.view(v) },
          },
        }),
      };
    });
  meshes.push({
    name: "Face",
    primitives: writePrims(face, targetsFor),
    weights: ARKIT_NAMES.map(() => 0),
    extras: { targetNames: [...ARKIT_NAMES] },
  });

  const bodyNode = nodes.push({ name: "Body", mesh: 0, skin: 0 }) - 1;
  const faceNode = nodes.push({ name: "Face", mesh: 1, skin: 0 }) - 1;

  const bind = (weights) =>
    Object.entries(weights).map(([name, weight]) => ({ node: faceNode, index: ARKIT_NAMES.indexOf(name), weight }));
  const expression = (weights, extra = {}) => ({
    morphTargetBinds: bind(weights),
    isBinary: false,
    overrideBlink: "none",
    overrideLookAt: "none",
    overrideMouth: "none",
    ...extra,
  });
  const humanBones = {};
  for (const [name] of bones) if (!NON_HUMANOID.has(name)) humanBones[name] = { node: nodeOf[name] };
  const range = (inputMaxValue, outputScale) => ({ inputMaxValue, outputScale });

  const gltf = {
    asset: { version: "2.0", generator: "live2d-pose web/tools/build-vrm.mjs" },
    extensionsUsed: ["VRMC_vrm", "VRMC_springBone"],
    scene: 0,
    scenes: [{ name: "avatar", nodes: [0, bodyNode, faceNode] }],
    nodes,
    meshes,
    skins,
    materials,
    accessors,
    bufferViews: bin.views,
    buffers: [{ byteLength: 0 }],
    extensions: {
      VRMC_vrm: {
        specVersion: "1.0",
        meta: {
          name: "live2d-pose built-in avatar",
          version: "1",
          authors: ["live2d-pose"],
          copyrightInformation: "live2d-pose contributors, generated by web/tools/build-vrm.mjs",
          licenseUrl: "https://vrm.dev/licenses/1.0/",
          avatarPermission: "everyone",
          allowExcessivelyViolentUsage: false,
          allowExcessivelySexualUsage: false,
          commercialUsage: "corporation",
          allowPoliticalOrReligiousUsage: true,
          allowAntisocialOrHateUsage: false,
          creditNotation: "unnecessary",
          allowRedistribution: true,
          modification: "allowModificationRedistribution",
        },
        humanoid: { humanBones },
        lookAt: {
          type: "bone",
          offsetFromHeadBone: [0, 0.11, 0.1],
          rangeMapHorizontalInner: range(90, 12),
          rangeMapHorizontalOuter: range(90, 15),
          rangeMapVerticalDown: range(90, 10),
          rangeMapVerticalUp: range(90, 12),
        },
        expressions: {
          preset: Object.fromEntries(Object.entries(PRESETS).map(([name, w]) => [name, expression(w)])),
          custom: Object.fromEntries(ARKIT_NAMES.map((name) => [name, expression({ [name]: 1 })])),
        },
      },
      VRMC_springBone: {
        specVersion: "1.0",
        colliders: [
          { node: nodeOf.head, shape: { sphere: { offset: [0, 0.1, 0], radius: 0.14 } } },
          { node: nodeOf.chest, shape: { sphere: { offset: [0, 0, -0.02], radius: 0.13 } } },
        ],
        colliderGroups: [{ name: "head and back", colliders: [0, 1] }],
        springs: [
          {
            name: "ponytail",
            joints: ["hairRoot", "hair1", "hair2", "hair3"].map((n) => ({
              node: nodeOf[n],
              hitRadius: 0.03,
              stiffness: 1.2,
              gravityPower: 0.3,
              gravityDir: [0, -1, 0],
              dragForce: 0.4,
            })),
            colliderGroups: [0],
          },
        ],
      },
    },
  };
  const body = bin.bytes();
  gltf.buffers[0].byteLength = body.byteLength;
  return glb(gltf, body);
}

function glb(json, body) {
  let text = new TextEncoder().encode(JSON.stringify(json));
  const pad = (4 - (text.byteLength % 4)) % 4;
  if (pad) {
    const padded = new Uint8Array(text.byteLength + pad).fill(0x20);
    padded.set(text);
    text = padded;
  }
  const total = 12 + 8 + text.byteLength + 8 + body.byteLength;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x46546c67, true); // "glTF"
  v.setUint32(4, 2, true);
  v.setUint32(8, total, true);
  v.setUint32(12, text.byteLength, true);
  v.setUint32(16, 0x4e4f534a, true); // "JSON"
  out.set(text, 20);
  const o = 20 + text.byteLength;
  v.setUint32(o, body.byteLength, true);
  v.setUint32(o + 4, 0x004e4942, true); // "BIN\0"
  out.set(body, o + 8);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2] ?? "builtin-avatar.vrm";
  const bytes = buildBuiltinVrm();
  writeFileSync(out, bytes);
  console.log(`${out}: ${bytes.byteLength} bytes`);
}
