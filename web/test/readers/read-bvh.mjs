// three.js's BVHLoader on one file; prints what it read as JSON:
//   node test/readers/read-bvh.mjs FILE.bvh FRAME [FRAME ...]
// -> {frames, frameTime, duration, bones: [names], rest: {bone: [x, y, z]},
//     at: {FRAME: {bone: {quaternion: [x, y, z, w], position: [x, y, z] | undefined}}}}
// tests/browser/test_recording_readers.py compares it with the take the file was written from.
import { readFileSync } from "node:fs";
import { BVHLoader } from "three/examples/jsm/loaders/BVHLoader.js";

const [file, ...frameArgs] = process.argv.slice(2);
const text = readFileSync(file, "utf8");
const { skeleton, clip } = new BVHLoader().parse(text);
const frameTime = parseFloat(/Frame Time:\s*(\S+)/.exec(text)[1]);
const frames = parseInt(/Frames:\s*(\d+)/.exec(text)[1], 10);
const tracks = new Map(clip.tracks.map((t) => [t.name, t]));
const at = {};
for (const arg of frameArgs) {
  const frame = parseInt(arg, 10);
  const out = {};
  for (const bone of skeleton.bones) {
    const q = tracks.get(`${bone.name}.quaternion`);
    const p = tracks.get(`${bone.name}.position`);
    out[bone.name] = {
      quaternion: q ? Array.from(q.values.slice(frame * 4, frame * 4 + 4)) : null,
      position: p ? Array.from(p.values.slice(frame * 3, frame * 3 + 3)) : null,
      times: q ? q.times[frame] : null,
    };
  }
  at[frame] = out;
}
const rest = Object.fromEntries(skeleton.bones.map((b) => [b.name, b.position.toArray()]));
console.log(
  JSON.stringify({
    frames,
    frameTime,
    duration: clip.duration,
    trackLength: clip.tracks[0]?.times.length ?? 0,
    bones: skeleton.bones.map((b) => b.name),
    rest,
    at,
  }),
);
