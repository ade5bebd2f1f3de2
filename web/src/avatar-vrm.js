// A VRM avatar (0.x or 1.0) with three.js and @pixiv/three-vrm.
//
// main.js imports this module dynamically (its own chunk: three.js is large),
// only when a VRM is to be shown. Each animation frame the avatar takes the
// motion's state (the gateway's rig, held by motion.js), retargets it
// (retarget-vrm.js: pure, unit-tested) and copies the result onto three-vrm's normalized bones, expressions and
// lookAt, and puts the normalized hips where the motion's hips position says
// (feet kept above the model's floor); then vrm.update() runs the spring
// bones, constraints and expressions, and the scene is drawn on a transparent
// canvas (OBS), the camera framing the avatar as framing.js says (the upper
// body, the whole body, or auto: the whole body while the legs are seen).
import * as THREE from "three";
import { GLTFLoader } from "three/examples/jsm/loaders/GLTFLoader.js";
import { VRMLoaderPlugin, VRMUtils } from "@pixiv/three-vrm";
import { describeModel, retargetVrm } from "./retarget-vrm.js";
import { Framing } from "./framing.js";
import { withTimeout } from "./timeout.js";
import { fetchModel, notGltf } from "./model-file.js";

const FOV_DEG = 28;
const FEET = ["leftFoot", "rightFoot", "leftToes", "rightToes"]; // kept above the floor, each at its rest height
const _v = new THREE.Vector3();

export async function createVrmAvatar(canvas, url, { loadTimeoutMs = 20000 } = {}) {
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ canvas, alpha: true, antialias: true, preserveDrawingBuffer: true, premultipliedAlpha: true });
  } catch (err) {
    throw new Error(`WebGL is not available (${err.message})`);
  }
  renderer.setClearColor(0x000000, 0); // transparent for OBS
  renderer.outputColorSpace = THREE.SRGBColorSpace;
  const loader = new GLTFLoader();
  loader.register((parser) => new VRMLoaderPlugin(parser));
  let gltf;
  try {
    // fetched here, not by the loader: a failure then says why in words (CORS, not a glTF file)
    gltf = await withTimeout((async () => {
      const bytes = await fetchModel(url);
      const why = notGltf(bytes);
      if (why) throw new Error(why);
      return loader.parseAsync(bytes, THREE.LoaderUtils.extractUrlBase(url));
    })(), loadTimeoutMs, "VRM load timed out");
  } catch (err) {
    renderer.dispose();
    throw new Error(err?.message || String(err));
  }
  const vrm = gltf.userData.vrm;
  if (!vrm || !vrm.humanoid) {
    renderer.dispose();
    throw new Error("the file is glTF but not a VRM (no VRM humanoid)");
  }
  return new VrmAvatar(renderer, vrm);
}

class VrmAvatar {
  constructor(renderer, vrm) {
    this.kind = "vrm";
    this.renderer = renderer;
    this.vrm = vrm;
    this.view = { x: 0, y: 0, scale: 1 };
    this.lastRender = null;
    const metaVersion = vrm.meta?.metaVersion ?? "1";
    if (metaVersion === "0") VRMUtils.rotateVRM0(vrm); // face +Z like VRM 1.0
    VRMUtils.removeUnnecessaryVertices?.(vrm.scene);
    vrm.scene.traverse((o) => {
      o.frustumCulled = false; // skinned meshes move outside their rest bounds
    });
    if (vrm.lookAt) vrm.lookAt.autoUpdate = false;
    vrm.scene.updateMatrixWorld(true);
    this.model = describeModel({
      metaVersion,
      expressionNames: vrm.expressionManager?.expressions.map((e) => e.expressionName) ?? [],
      boneNames: Object.keys(vrm.humanoid.humanBones),
      hipsRest: this.node("hips")?.position.toArray() ?? null,
    });
    // each foot joint's height at rest: none goes lower (keepFeetAboveFloor)
    this.feetRest = FEET.filter((n) => this.node(n)).map((name) => ({ name, node: this.node(name), y: this.worldOf(name)[1] }));
    this.scene = new THREE.Scene();
    this.scene.add(vrm.scene);
    const light = new THREE.DirectionalLight(0xffffff, 2.2);
    light.position.set(0.6, 1.4, 2.0);
    this.scene.add(light, new THREE.AmbientLight(0xffffff, 1.3));
    this.camera = new THREE.PerspectiveCamera(FOV_DEG, 1, 0.05, 50);
    this.vrm.update(0);
    // the model at rest: its joints, its floor, and how high its mesh reaches (hair, a hat, a sphere)
    const box = new THREE.Box3().setFromObject(vrm.scene);
    this.framing = new Framing(this.view.framing, {
      ...this.framedJoints(), floor: Math.min(0, ...this.feetRest.map((f) => f.y)), top: box.isEmpty() ? null : box.max.y,
    });
    this.parts = {};
    this.aim = this.framing.update(this.parts, this.framedJoints(), 0);
    this.applied = { bones: {}, expressions: {}, lookAt: null, hips: null };
  }

  node(name) {
    return this.vrm.humanoid.getNormalizedBoneNode(name);
  }

  /** A normalized bone's world position (metres, +y up, the avatar facing +z), as [x, y, z]. */
  worldOf(name) {
    return this.node(name).getWorldPosition(_v).toArray();
  }

  /** The joints the framing follows, with stand-ins for a model that lacks one. */
  framedJoints() {
    const has = (n) => Boolean(this.node(n));
    const head = has("head") ? this.worldOf("head") : [0, 1.4, 0];
    const chest = has("chest") ? this.worldOf("chest") : has("spine") ? this.worldOf("spine") : [head[0], head[1] * 0.75, head[2]];
    const hips = has("hips") ? this.worldOf("hips") : [chest[0], chest[1] * 0.7, chest[2]];
    return { head, chest, hips };
  }

  /**
   * No foot under the model's floor: where a foot joint (ankle or toes) would sink below its rest
   * height, the hips rise by that much. The rig keeps the person's feet on the floor in metres of its
   * own average adult; a model with other proportions (or a crouch deeper than its legs allow) would
   * otherwise put a foot through the floor.
   */
  keepFeetAboveFloor() {
    const hips = this.node("hips");
    if (!hips || this.feetRest.length === 0) return;
    hips.updateWorldMatrix(true, true);
    let sink = 0;
    for (const { node, y } of this.feetRest) sink = Math.max(sink, y - node.getWorldPosition(_v).y);
    if (sink > 0) hips.position.y += sink; // the rig's root is turned about y only: local y is world y
  }

  /** One animation frame: the motion's state. */
  update({ state }) {
    if (!state) return;
    const out = retargetVrm(state, this.model);
    const humanoid = this.vrm.humanoid;
    for (const [name, q] of Object.entries(out.bones)) {
      humanoid.getNormalizedBoneNode(name)?.quaternion.set(q[0], q[1], q[2], q[3]);
    }
    if (out.hips) {
      this.node("hips").position.fromArray(out.hips);
      this.keepFeetAboveFloor();
      out.hips = this.node("hips").position.toArray();
    }
    this.parts = state.parts ?? {};
    const em = this.vrm.expressionManager;
    if (em) for (const [name, v] of Object.entries(out.expressions)) em.setValue(name, v);
    if (this.vrm.lookAt && out.lookAt) {
      this.vrm.lookAt.yaw = out.lookAt.yaw;
      this.vrm.lookAt.pitch = out.lookAt.pitch;
    }
    this.applied = out;
  }

  render(nowMs) {
    const dt = this.lastRender == null ? 0 : Math.min(0.1, (nowMs - this.lastRender) / 1000);
    this.lastRender = nowMs;
    this.vrm.update(dt); // humanoid, lookAt, expressions, spring bones, constraints
    this.aim = this.framing.update(this.parts, this.framedJoints(), nowMs);
    this.placeCamera();
    this.renderer.render(this.scene, this.camera);
  }

  /** The page's view: drag, zoom and the framing option ("auto", "upper", "full"; options.js). */
  setView(view) {
    this.view = view;
    this.framing.setOption(view.framing);
    this.placeCamera();
  }

  resize(width, height, dpr = 1) {
    this.renderer.setPixelRatio(dpr);
    this.renderer.setSize(width, height, false);
    this.camera.aspect = width / Math.max(1, height);
    this.size = { width, height };
    this.camera.updateProjectionMatrix();
    this.placeCamera();
  }

  placeCamera() {
    const { centre: [cx, cy, cz], height } = this.aim;
    const aspect = this.camera.aspect || 1;
    const halfFov = (FOV_DEG * Math.PI) / 360;
    // fit the height, and on narrow pages the shoulders' width (about the same)
    const fit = Math.max(height, height / aspect);
    const distance = fit / 2 / Math.tan(halfFov) / this.view.scale;
    // drag: pixels -> metres at the avatar's distance
    const pxToM = (2 * distance * Math.tan(halfFov)) / Math.max(1, this.size?.height ?? 600);
    this.camera.position.set(cx - this.view.x * pxToM, cy + this.view.y * pxToM, cz + distance);
    this.camera.lookAt(cx - this.view.x * pxToM, cy + this.view.y * pxToM, cz);
  }

  /** Read-only numbers for tests and the HUD: applied bones and expressions. */
  snapshot() {
    const bones = {}; // the bones the motion drives
    for (const name of Object.keys(this.applied.bones)) {
      const q = this.vrm.humanoid.getNormalizedBoneNode(name)?.quaternion;
      if (q) bones[name] = [q.x, q.y, q.z, q.w];
    }
    const expressions = {};
    const em = this.vrm.expressionManager;
    if (em) for (const e of em.expressions) expressions[e.expressionName] = em.getValue(e.expressionName);
    // where the joints are on screen terms: world metres, +x the screen's right, +y up
    this.vrm.scene.updateMatrixWorld(true);
    const joints = {};
    const screen = {}; // where each joint is drawn: -1..1 across the picture, +y up (outside: off the picture)
    const p = new THREE.Vector3();
    for (const name of this.model.bones) {
      const node = this.vrm.humanoid.getRawBoneNode(name);
      if (!node) continue;
      joints[name] = node.getWorldPosition(p).toArray();
      const [x, y] = p.project(this.camera).toArray();
      screen[name] = [x, y];
    }
    return {
      joints,
      screen,
      framing: { kind: this.aim.kind, centre: this.aim.centre, height: this.aim.height },
      feetRest: Object.fromEntries(this.feetRest.map((f) => [f.name, f.y])),
      hips: this.applied.hips,
      metaVersion: this.vrm.meta?.metaVersion ?? "1",
      perfectSync: this.model.perfectSync,
      bones,
      expressions,
      lookAt: this.vrm.lookAt ? { yaw: this.vrm.lookAt.yaw, pitch: this.vrm.lookAt.pitch } : null,
      springJoints: this.vrm.springBoneManager?.joints?.size ?? 0,
    };
  }

  destroy() {
    VRMUtils.deepDispose(this.vrm.scene);
    this.renderer.dispose();
  }
}
