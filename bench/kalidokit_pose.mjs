// KalidoKit's Pose.solve applied to a VRM the way its demo does, for the body fidelity figures
// (bench/fidelity_body.py). The demo is docs/script.js in yeemachine/kalidokit: per tracking result,
// Pose.solve(worldLandmarks, imageLandmarks, {runtime: "mediapipe"}), then for each bone
// rigRotation(name, euler, dampener, lerpAmount): a three.js Euler (order XYZ) of the solved angles
// times the dampener, as a quaternion, and the bone's quaternion slerped that fraction toward it.
// The bones are a VRM 0.x model's raw nodes (three-vrm 0.6's getBoneNode): identity in the T-pose,
// the model facing -Z in its own frame (the demo turns the scene 180 degrees to face the camera).
// A result without a body leaves every bone where it was, as in the demo.
//
// Reads one JSON request on stdin:
//   {"subjects": {NAME: [null | {"world": [[x, y, z, visibility] x 33], "image": [[x, y, z, visibility] x 33]}, ...]}}
// and writes {"subjects": {NAME: [{"bones": {Hips: [x, y, z, w], ...}, "hips": [x, y, z]}, ...]}}:
// after every result, the demo's bone rotations and its hips position (VRM 0.x frame).
import { Pose } from "../web/node_modules/kalidokit/dist/kalidokit.es.js";
import { Euler, Quaternion, Vector3 } from "../web/node_modules/three/build/three.module.js";

// The demo's calls: [VRM bone, the solved value it reads, dampener, lerp amount].
const RIG = [
  ["Hips", (p) => p.Hips.rotation, 0.7, 0.3],
  ["Chest", (p) => p.Spine, 0.25, 0.3],
  ["Spine", (p) => p.Spine, 0.45, 0.3],
  ["RightUpperArm", (p) => p.RightUpperArm, 1, 0.3],
  ["RightLowerArm", (p) => p.RightLowerArm, 1, 0.3],
  ["LeftUpperArm", (p) => p.LeftUpperArm, 1, 0.3],
  ["LeftLowerArm", (p) => p.LeftLowerArm, 1, 0.3],
  ["LeftUpperLeg", (p) => p.LeftUpperLeg, 1, 0.3],
  ["LeftLowerLeg", (p) => p.LeftLowerLeg, 1, 0.3],
  ["RightUpperLeg", (p) => p.RightUpperLeg, 1, 0.3],
  ["RightLowerLeg", (p) => p.RightLowerLeg, 1, 0.3],
];
const HIPS_POSITION_LERP = 0.07;

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const points = (rows) => rows.map(([x, y, z, visibility]) => ({ x, y, z, visibility }));

/** One subject's results through the demo: the bones after each result. */
function animate(frames) {
  const bones = Object.fromEntries(RIG.map(([name]) => [name, new Quaternion()]));
  const hips = new Vector3();
  return frames.map((frame) => {
    if (frame) {
      const pose = Pose.solve(points(frame.world), points(frame.image), { runtime: "mediapipe" });
      for (const [name, value, dampener, lerp] of RIG) {
        const r = value(pose);
        const target = new Quaternion().setFromEuler(new Euler(r.x * dampener, r.y * dampener, r.z * dampener));
        bones[name].slerp(target, lerp);
      }
      const p = pose.Hips.worldPosition;
      hips.lerp(new Vector3(-p.x, p.y + 1, -p.z), HIPS_POSITION_LERP);
    }
    return {
      bones: Object.fromEntries(Object.entries(bones).map(([name, q]) => [name, [q.x, q.y, q.z, q.w]])),
      hips: [hips.x, hips.y, hips.z],
    };
  });
}

const request = await readStdin();
const answer = { subjects: {} };
for (const [name, frames] of Object.entries(request.subjects)) answer.subjects[name] = animate(frames);
process.stdout.write(JSON.stringify(answer));
