import { test } from "node:test";
import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import { parseMessage, ProtocolError, BLENDSHAPE_NAMES } from "../src/protocol.js";
import { fixture } from "./helpers.js";

const f = fixture("straight");

function le(floats) {
  const buf = new ArrayBuffer(floats.length * 4);
  const v = new DataView(buf);
  floats.forEach((x, i) => v.setFloat32(i * 4, x, true));
  return new Uint8Array(buf);
}

function landmarksMessage(overrides = {}) {
  return {
    type: "landmarks", stream: "cam1", seq: 7, imageSize: { width: 512, height: 512 },
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
  assert.equal(face.blendshapes[BLENDSHAPE_NAMES.indexOf("mouthSmileLeft")], f.face.blendshapes[BLENDSHAPE_NAMES.indexOf("mouthSmileLeft")]);
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
  const hello = parseMessage(JSON.stringify({ type: "hello", streams: [{ stream: "a", imageSize: { width: 640, height: 480 } }] }));
  assert.deepEqual(hello, { type: "hello", streams: [{ stream: "a", imageSize: { width: 640, height: 480 } }] });
  assert.deepEqual(parseMessage('{"type":"stream","stream":"b","imageSize":{"width":320,"height":240}}'), {
    type: "stream", stream: "b", imageSize: { width: 320, height: 240 },
  });
  assert.deepEqual(parseMessage('{"type":"ended","stream":"b"}'), { type: "ended", stream: "b" });
  assert.deepEqual(parseMessage('{"type":"error","code":"auth","message":"bad token"}'), { type: "error", code: "auth", message: "bad token" });
  for (const t of ["not json", "[]", '{"type":"bogus"}', '{"no":"type"}']) assert.throws(() => parseMessage(t), ProtocolError);
});
