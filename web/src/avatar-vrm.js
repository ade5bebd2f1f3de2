// A VRM avatar (0.x or 1.0) with three.js and @pixiv/three-vrm.
//
// main.js imports this module dynamically (its own chunk: three.js is large),
// only when a VRM is to be shown. Each animation frame the avatar takes the
// motion's state (the gateway's rig, held by motion.js), retargets it
// (retarget-vrm.js: pure, unit-tested) and copies the result onto three-vrm's normalized bones, expressions and
// lookAt; then vrm.update() runs the spring bones, constraints and
// expressions, and the scene is drawn on a transparent canvas (OBS).
import * as THREE from "three";
import { GLTFLoader } from "three/examples/jsm/loaders/GLTFLoader.js";
import { VRMLoaderPlugin, VRMUtils } from "@pixiv/three-vrm";
import { describeModel, retargetVrm } from "./retarget-vrm.js";
import { withTimeout } from "./timeout.js";
import { fetchModel, notGltf } from "./model-file.js";

const FOV_DEG = 28;
// Upper body framing: from a little below the chest to above the head.
const FRAME_BELOW_CHEST = 0.28;
const FRAME_ABOVE_HEAD = 0.36; // the head bone sits at the skull's base

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
  if (!vrm?.humanoid) {
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
    this.model = describeModel({
      metaVersion,
      expressionNames: vrm.expressionManager?.expressions.map((e) => e.expressionName) ?? [],
      boneNames: Object.keys(vrm.humanoid.humanBones),
    });
    this.scene = new THREE.Scene();
    this.scene.add(vrm.scene);
    const light = new THREE.DirectionalLight(0xffffff, 2.2);
    light.position.set(0.6, 1.4, 2.0);
    this.scene.add(light, new THREE.AmbientLight(0xffffff, 1.3));
    this.camera = new THREE.PerspectiveCamera(FOV_DEG, 1, 0.05, 50);
    this.vrm.update(0);
    this.framing = this.upperBodyFraming();
    this.applied = { bones: {}, expressions: {}, lookAt: null };
  }

  /** Where the camera looks and how far it stands, from the model's own rest bones. */
  upperBodyFraming() {
    const pos = (name) => {
      const node = this.vrm.humanoid.getNormalizedBoneNode(name);
      return node ? node.getWorldPosition(new THREE.Vector3()) : null;
    };
    const head = pos("head") ?? new THREE.Vector3(0, 1.4, 0);
    const chest = pos("chest") ?? pos("spine") ?? head.clone().setY(head.y * 0.75);
    const bottom = chest.y - FRAME_BELOW_CHEST * (head.y / 1.4);
    const top = head.y + FRAME_ABOVE_HEAD * (head.y / 1.4);
    return { centre: new THREE.Vector3(0, (top + bottom) / 2, chest.z), height: top - bottom };
  }

  /** One animation frame: the motion's state. */
  update({ state }) {
    if (!state) return;
    const out = retargetVrm(state, this.model);
    const humanoid = this.vrm.humanoid;
    for (const [name, q] of Object.entries(out.bones)) {
      humanoid.getNormalizedBoneNode(name)?.quaternion.set(q[0], q[1], q[2], q[3]);
    }
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
    this.renderer.render(this.scene, this.camera);
  }

  setView(view) {
    this.view = view;
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
    const { centre, height } = this.framing;
    const aspect = this.camera.aspect || 1;
    const halfFov = (FOV_DEG * Math.PI) / 360;
    // fit the height, and on narrow pages the shoulders' width (about the same)
    const fit = Math.max(height, height / aspect);
    const distance = fit / 2 / Math.tan(halfFov) / this.view.scale;
    // drag: pixels -> metres at the avatar's distance
    const pxToM = (2 * distance * Math.tan(halfFov)) / Math.max(1, this.size?.height ?? 600);
    this.camera.position.set(centre.x - this.view.x * pxToM, centre.y + this.view.y * pxToM, centre.z + distance);
    this.camera.lookAt(centre.x - this.view.x * pxToM, centre.y + this.view.y * pxToM, centre.z);
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
    const p = new THREE.Vector3();
    for (const name of this.model.bones) {
      const node = this.vrm.humanoid.getRawBoneNode(name);
      if (node) joints[name] = node.getWorldPosition(p).toArray();
    }
    return {
      joints,
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
