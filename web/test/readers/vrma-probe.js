// A page-side probe of real VRM Animation readers: three.js's GLTFLoader with
// @pixiv/three-vrm (the avatar) and @pixiv/three-vrm-animation (the .vrma),
// played by a THREE.AnimationMixer as the library's own examples do.
// tests/browser/test_recording_readers.py bundles this file (esbuild, IIFE), loads it
// into headless Chromium and calls window.probeVrma.
import * as THREE from "three";
import { GLTFLoader } from "three/examples/jsm/loaders/GLTFLoader.js";
import { VRMLoaderPlugin } from "@pixiv/three-vrm";
import { VRMAnimationLoaderPlugin, VRMLookAtQuaternionProxy, createVRMAnimationClip } from "@pixiv/three-vrm-animation";

function bytes(base64) {
  const raw = atob(base64);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out.buffer;
}

function read(vrm) {
  const bones = {};
  for (const name of Object.keys(vrm.humanoid.humanBones)) {
    const node = vrm.humanoid.getNormalizedBoneNode(name);
    if (node) bones[name] = node.quaternion.toArray();
  }
  const expressions = {};
  for (const e of vrm.expressionManager?.expressions ?? []) {
    expressions[e.expressionName] = vrm.expressionManager.getValue(e.expressionName);
  }
  return {
    bones,
    expressions,
    hips: vrm.humanoid.getNormalizedBoneNode("hips").position.toArray(),
    lookAt: vrm.lookAt ? { yaw: vrm.lookAt.yaw, pitch: vrm.lookAt.pitch } : null,
  };
}

/**
 * Load a VRM and a .vrma (base64), play the animation on the VRM, and read
 * the normalized bones, expression weights, hips position and lookAt at each
 * time (seconds).
 */
window.probeVrma = async ({ vrm: vrmData, vrma: vrmaData, times }) => {
  const warnings = [];
  const warn = console.warn;
  console.warn = (...args) => {
    warnings.push(args.join(" "));
    warn(...args);
  };
  try {
    const loader = new GLTFLoader();
    loader.register((parser) => new VRMLoaderPlugin(parser));
    loader.register((parser) => new VRMAnimationLoaderPlugin(parser));
    const vrm = (await loader.parseAsync(bytes(vrmData), "")).userData.vrm;
    const animation = (await loader.parseAsync(bytes(vrmaData), "")).userData.vrmAnimations?.[0];
    if (!animation) throw new Error("no VRM animation in the file");
    if (vrm.lookAt) {
      const proxy = new VRMLookAtQuaternionProxy(vrm.lookAt);
      proxy.name = "lookAtQuaternionProxy";
      vrm.scene.add(proxy);
    }
    const clip = createVRMAnimationClip(animation, vrm);
    const mixer = new THREE.AnimationMixer(vrm.scene);
    const action = mixer.clipAction(clip);
    action.setLoop(THREE.LoopOnce, 1);
    action.clampWhenFinished = true;
    const samples = times.map((t) => {
      action.reset().play(); // a LoopOnce action that reached its end stays there
      mixer.setTime(t);
      return { t, ...read(vrm) };
    });
    return {
      metaVersion: vrm.meta.metaVersion,
      modelRestHips: vrm.humanoid.normalizedRestPose.hips.position,
      animationRestHips: animation.restHipsPosition.toArray(),
      duration: clip.duration,
      tracks: clip.tracks.map((t) => t.name),
      humanoidTracks: [...animation.humanoidTracks.rotation.keys()],
      translationTracks: [...animation.humanoidTracks.translation.keys()],
      presetTracks: [...animation.expressionTracks.preset.keys()],
      customTracks: [...animation.expressionTracks.custom.keys()],
      lookAtTrack: animation.lookAtTrack != null,
      samples,
      warnings,
    };
  } finally {
    console.warn = warn;
  }
};
