import { test } from "node:test";
import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import { decode } from "@msgpack/msgpack";
import { parseMessage, ProtocolError } from "../src/protocol.js";
import { BLENDSHAPE_NAMES, BLENDSHAPES, EXPRESSIONS, LIVE2D_IDS, MOTION_VERSION } from "../src/contract.js";
import { fixture, motionMessages } from "./helpers.js";

const f = fixture("straight");

function le(floats) {
  const buf = new ArrayBuffer(floats.length * 4);
  const v = new DataView(buf);
  floats.forEach((x, i) => {
    v.setFloat32(i * 4, x, true);
  });
  return new Uint8Array(buf);
}

function landmarksMessage(overrides = {}) {
  return {
    type: "landmarks",
    stream: "cam1",
    seq: 7,
    imageSize: { width: 512, height: 512 },
    ts: { ingest: 1000, dispatch: 1001, decode_start: 1002, infer_start: 1003, infer_end: 1020, gateway: 1025 },
    faces: [{ landmarks: le(f.face.landmarks), blendshapes: le(f.face.blendshapes), matrix: le(f.face.matrix) }],
    worker: "w1",
    ...overrides,
  };
}

test("a landmarks message decodes to float arrays with the sent values", () => {
  const bytes = encode(landmarksMessage());
  const msg = parseMessage(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  assert.equal(msg.type, "landmarks");
  assert.equal(msg.stream, "cam1");
  assert.equal(msg.seq, 7);
  assert.deepEqual(msg.imageSize, { width: 512, height: 512 });
  assert.equal(msg.ts.gateway - msg.ts.ingest, 25);
  assert.equal(msg.worker, "w1");
  assert.equal(msg.faces.length, 1);
  const face = msg.faces[0];
  assert.ok(face.landmarks instanceof Float32Array && face.landmarks.length === 478 * 3);
  assert.equal(face.landmarks[3], f.face.landmarks[3]);
  assert.equal(
    face.blendshapes[BLENDSHAPE_NAMES.indexOf("mouthSmileLeft")],
    f.face.blendshapes[BLENDSHAPE_NAMES.indexOf("mouthSmileLeft")],
  );
  assert.equal(face.matrix.length, 16);
});

test("binary fields at odd offsets inside the message still decode (no aligned-view assumption)", () => {
  // a leading odd-length string shifts every later bin to an unaligned offset
  const bytes = encode({ a: "x", ...landmarksMessage() });
  const msg = parseMessage(bytes); // Uint8Array view also accepted
  assert.equal(msg.faces[0].landmarks[0], f.face.landmarks[0]);
});

test("no face: faces is empty; optional blendshapes/matrix may be absent", () => {
  assert.deepEqual(parseMessage(encode(landmarksMessage({ faces: [] }))).faces, []);
  const onlyLandmarks = parseMessage(encode(landmarksMessage({ faces: [{ landmarks: le(f.face.landmarks) }] })));
  assert.equal(onlyLandmarks.faces[0].blendshapes, null);
  assert.equal(onlyLandmarks.faces[0].matrix, null);
});

test("malformed binary messages raise ProtocolError, never something else", () => {
  const bad = [
    new Uint8Array([0xc1]), // never-used msgpack byte
    encode([1, 2, 3]),
    encode({ type: "other" }),
    encode(landmarksMessage({ faces: "nope" })),
    encode(landmarksMessage({ faces: [{ landmarks: new Uint8Array(12) }] })),
    encode(landmarksMessage({ faces: [{ landmarks: "text" }] })),
    encode(landmarksMessage({ stream: undefined })),
  ];
  for (const b of bad) assert.throws(() => parseMessage(b), ProtocolError);
});

test("control messages: hello, stream, ended, error", () => {
  const hello = parseMessage(
    JSON.stringify({ type: "hello", streams: [{ stream: "a", imageSize: { width: 640, height: 480 } }] }),
  );
  assert.deepEqual(hello, { type: "hello", streams: [{ stream: "a", imageSize: { width: 640, height: 480 } }] });
  assert.deepEqual(parseMessage('{"type":"stream","stream":"b","imageSize":{"width":320,"height":240}}'), {
    type: "stream",
    stream: "b",
    imageSize: { width: 320, height: 240 },
  });
  assert.deepEqual(parseMessage('{"type":"ended","stream":"b"}'), { type: "ended", stream: "b" });
  assert.deepEqual(parseMessage('{"type":"error","code":"auth","message":"bad token"}'), {
    type: "error",
    code: "auth",
    message: "bad token",
  });
  for (const t of ["not json", "[]", '{"type":"bogus"}', '{"no":"type"}'])
    assert.throws(() => parseMessage(t), ProtocolError);
});

// ---------------------------------------------------------------- poses and hands

const pose = () => ({ landmarks: le(new Array(33 * 5).fill(0.5)), world: le(new Array(33 * 3).fill(0.1)) });
const hand = (handedness = "Right") => ({
  handedness,
  score: 0.9,
  landmarks: le(new Array(63).fill(0.2)),
  world: le(new Array(63).fill(0.01)),
});

test("tracks: a holistic message parses faces, poses and hands; absent trackers are null", () => {
  const msg = parseMessage(
    encode(landmarksMessage({ tracks: ["face", "pose", "hands"], poses: [pose()], hands: [hand("Left"), hand()] })),
  );
  assert.deepEqual(msg.tracks, ["face", "pose", "hands"]);
  assert.equal(msg.poses[0].landmarks.length, 33 * 5);
  assert.equal(msg.poses[0].world[2], Math.fround(0.1));
  assert.equal(msg.hands[1].handedness, "Right");
  assert.equal(msg.hands[0].world.length, 63);
  // one tracker per message: the others say nothing (null), not "found nothing" ([])
  const only = parseMessage(encode(landmarksMessage({ tracks: ["pose"], faces: undefined, poses: [] })));
  assert.deepEqual(only.tracks, ["pose"]);
  assert.deepEqual(only.poses, []);
  assert.equal(only.faces, null);
  assert.equal(only.hands, null);
  // no tracks: the original face-only contract
  assert.deepEqual(parseMessage(encode(landmarksMessage())).tracks, ["face"]);
  // a tracker this page does not know is skipped
  assert.deepEqual(parseMessage(encode(landmarksMessage({ tracks: ["face", "iris"] }))).tracks, ["face"]);
});

test("malformed poses and hands raise ProtocolError", () => {
  const bad = [
    landmarksMessage({ tracks: "pose" }),
    landmarksMessage({ tracks: ["pose"], poses: "x" }),
    landmarksMessage({ tracks: ["pose"], poses: [{ landmarks: le([1, 2]), world: pose().world }] }),
    landmarksMessage({ tracks: ["pose"], poses: [{ landmarks: pose().landmarks }] }),
    landmarksMessage({ tracks: ["hands"], hands: [{ ...hand(), handedness: "Up" }] }),
    landmarksMessage({ tracks: ["hands"], hands: [{ ...hand(), score: "high" }] }),
    landmarksMessage({ tracks: ["hands"], hands: [{ ...hand(), world: le([0]) }] }),
    landmarksMessage({ tracks: ["hands"] }),
  ];
  for (const m of bad) assert.throws(() => parseMessage(encode(m)), ProtocolError, JSON.stringify(Object.keys(m)));
});

// ---------------------------------------------------------------- motion

test("the gateway's motion messages parse: a full one first, then deltas of what changed", () => {
  const [first, second, ...rest] = motionMessages().map((m) => parseMessage(m));
  assert.equal(first.type, "motion");
  assert.equal(first.full, true);
  assert.equal(first.mirror, true);
  assert.equal(Object.keys(first.expressions).length, EXPRESSIONS.length);
  assert.equal(Object.keys(first.blendshapes).length, BLENDSHAPES.length);
  assert.deepEqual(Object.keys(first.live2d), [...LIVE2D_IDS]);
  assert.ok(first.bones.neck && first.bones.head && first.seen.face, "the head, from the facial matrix");
  for (const q of Object.values(first.bones)) assert.ok(Math.abs(Math.hypot(...q) - 1) < 1e-5, "unit quaternions");
  assert.equal(second.full, false);
  assert.equal(second.mirror, null, "a delta carries only what changed");
  assert.ok(rest.some((m) => m.bones && Object.keys(m.bones).length < Object.keys(first.bones).length + 30));
  assert.equal(first.headPosition.length, 3);
  assert.deepEqual(first.tracks, ["face", "pose", "hands"], "the trackers whose new result it brings");
});

test("a motion version the page does not know is reported, not applied", () => {
  const raw = decode(motionMessages()[0]);
  const msg = parseMessage(encode({ ...raw, v: MOTION_VERSION + 1 }));
  assert.deepEqual(msg, { type: "motion", unsupported: MOTION_VERSION + 1 });
});

test("malformed motion messages raise ProtocolError", () => {
  const raw = decode(motionMessages()[0]);
  for (const bad of [
    { stream: 3 },
    { seq: "x" },
    { bones: { neck: new Uint8Array(3) } },
    { bones: ["neck"] },
    { bones: { 99: new Uint8Array(16) } },
    { live2d: new Uint8Array(4) },
    { seen: "face" },
  ]) {
    assert.throws(() => parseMessage(encode({ ...raw, ...bad })), ProtocolError, JSON.stringify(bad));
  }
  const nan = new Uint8Array(raw.gaze);
  new DataView(nan.buffer, nan.byteOffset).setFloat32(0, NaN, true);
  assert.throws(() => parseMessage(encode({ ...raw, gaze: nan })), /non-finite/);
});
