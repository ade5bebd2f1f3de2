// Shared test helpers: the real fixtures (web/test/fixtures/README.md).
import { readFileSync } from "node:fs";
import { decode } from "@msgpack/msgpack";
import { parseMessage } from "../src/protocol.js";
import { MotionHolder } from "../src/motion.js";

/** The gateway's motion messages for gesture_video.mp4 ("mirrored" or "plain"), as bytes. */
export function motionMessages(variant = "mirrored") {
  const fixture = decode(readFileSync(new URL("./fixtures/gesture-motion.msgpack", import.meta.url)));
  return fixture[variant];
}

/** The gateway's full message of the recording's last update: what the deltas add up to. */
export function lastFull(variant = "mirrored") {
  return decode(readFileSync(new URL("./fixtures/gesture-motion.msgpack", import.meta.url))).last[variant];
}

/** What the page holds after each motion message of the recording (one state per frame of the video). */
export function heldStates(variant = "mirrored") {
  const holder = new MotionHolder();
  return motionMessages(variant).map((bytes) => {
    holder.apply(parseMessage(bytes));
    return { state: holder.state, live2d: holder.live2d };
  });
}

/** One face of the astronaut photo (fixtures/NAME.json: real MediaPipe output). */
export function fixture(name) {
  const f = JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url)));
  return {
    ...f,
    face: {
      landmarks: Float32Array.from(f.landmarks.flat()),
      blendshapes: Float32Array.from(f.blendshapes),
      matrix: Float32Array.from(f.matrix),
    },
  };
}
