// Parsing of the gateway's /ws messages (see docs/protocol.md): control
// messages, the rig's motion (what the avatar shows), and raw landmarks (the
// overlay, when asked for).
//
// Pure: no sockets, no DOM. Everything the socket hands us goes through
// parseMessage(), so a malformed message fails here, in one tested place,
// and the rest of the page only ever sees well-formed objects.
import { decode } from "@msgpack/msgpack";
import { BLENDSHAPES, BONE_NAMES, EXPRESSIONS, LIVE2D_IDS, MOTION_VERSION, PART_NAMES } from "./contract.js";

export const NUM_LANDMARKS = 478;
export const NUM_BLENDSHAPES = 52;
export const NUM_POSE_LANDMARKS = 33;
export const NUM_HAND_LANDMARKS = 21;
export const TRACKERS = Object.freeze(["face", "pose", "hands"]);
// the result key each tracker reports under
export const TRACKER_KEYS = Object.freeze({ face: "faces", pose: "poses", hands: "hands" });

export class ProtocolError extends Error {}

const CONTROL_TYPES = new Set(["hello", "stream", "ended", "error"]);

/**
 * Turn one WebSocket message (string or ArrayBuffer/Uint8Array) into a plain
 * object. Throws ProtocolError when it does not have the documented shape.
 */
export function parseMessage(data) {
  if (typeof data === "string") return parseControl(data);
  let bytes;
  if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
  else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  else throw new ProtocolError(`unsupported message type ${typeof data}`);
  let obj;
  try {
    obj = decode(bytes);
  } catch (err) {
    throw new ProtocolError(`binary message is not msgpack (${err.message})`);
  }
  if (!isMap(obj)) throw new ProtocolError("binary message is not a msgpack map");
  if (obj.type === "motion") return parseMotion(obj);
  if (obj.type !== "landmarks") throw new ProtocolError(`unknown binary message type ${JSON.stringify(obj.type)}`);
  return parseLandmarks(obj);
}

const SEEN = ["face", "pose", "leftHand", "rightHand"];
const TRACKER_NAMES = new Set(TRACKERS);

/**
 * A motion message: the rig's state as the avatar shows it. A full one
 * carries every channel; a delta only those that changed (absent: null here).
 * A version this page does not know parses as {type: "motion", unsupported: v}.
 */
function parseMotion(obj) {
  if (obj.v !== MOTION_VERSION) return { type: "motion", unsupported: obj.v ?? null };
  if (typeof obj.stream !== "string") throw new ProtocolError("motion: stream is not a string");
  if (!Number.isFinite(obj.seq) || !isMap(obj.ts)) throw new ProtocolError("motion: seq and ts are required");
  const vector = (key, count) => (obj[key] == null ? null : finite(floats(obj[key], count, `motion ${key}`), key));
  let bones = null;
  if (obj.bones != null) {
    // keyed by the bone's index in contract.json's list, as a decimal string ("18"), or its name
    if (!isMap(obj.bones)) throw new ProtocolError("motion: bones is not a map of bones to rotations");
    bones = Object.fromEntries(Object.entries(obj.bones).map(
      ([key, q]) => [boneName(key), Array.from(finite(floats(q, 4, `motion bone ${key}`), key))]));
  }
  const times = isMap(obj.times)
    ? Object.fromEntries(Object.entries(obj.times).filter(([k]) => TRACKER_NAMES.has(k)).map(([k, v]) => [k, Number.isFinite(v) ? Number(v) : null]))
    : null;
  if (obj.seen != null && !Array.isArray(obj.seen)) throw new ProtocolError("motion: seen is not a list");
  const ts = {};
  for (const [k, v] of Object.entries(obj.ts)) if (Number.isFinite(v)) ts[k] = Number(v);
  const named = (names, values) => values && Object.fromEntries(names.map((n, i) => [n, values[i]]));
  const gaze = vector("gaze", 2);
  return {
    type: "motion",
    stream: obj.stream,
    seq: Number(obj.seq),
    full: obj.full === true,
    ts,
    tracks: Array.isArray(obj.tracks) ? obj.tracks.filter((t) => TRACKER_NAMES.has(t)) : [],
    session: Number.isFinite(obj.session) ? Number(obj.session) : null,
    mirror: typeof obj.mirror === "boolean" ? obj.mirror : null,
    times,
    seen: obj.seen == null ? null : Object.fromEntries(SEEN.map((k) => [k, obj.seen.includes(k)])),
    bones,
    expressions: named(EXPRESSIONS, vector("expressions", EXPRESSIONS.length)),
    blendshapes: named(BLENDSHAPES, vector("blendshapes", BLENDSHAPES.length)),
    gaze: gaze && { yaw: gaze[0], pitch: gaze[1] },
    live2d: named(LIVE2D_IDS, vector("live2d", LIVE2D_IDS.length)),
    parts: named(PART_NAMES, vector("parts", PART_NAMES.length)),
    // positions: absent = unchanged (undefined), nil = none
    headPosition: "headPosition" in obj ? obj.headPosition && Array.from(vector("headPosition", 3)) : undefined,
    hipsPosition: "hipsPosition" in obj ? obj.hipsPosition && Array.from(vector("hipsPosition", 3)) : undefined,
  };
}

/** A bone's key in a motion message: its index in contract.json's list of bones, or its name. */
function boneName(key) {
  if (!/^\d+$/.test(key)) return key;
  const name = BONE_NAMES[Number(key)];
  if (name === undefined) throw new ProtocolError(`motion: bone ${key} is not in the contract's list`);
  return name;
}

function finite(values, what) {
  if (!values.every(Number.isFinite)) throw new ProtocolError(`motion: ${what} has a non-finite number`);
  return values;
}

function parseControl(text) {
  let obj;
  try {
    obj = JSON.parse(text);
  } catch {
    throw new ProtocolError("text message is not JSON");
  }
  if (!isMap(obj) || typeof obj.type !== "string") throw new ProtocolError("text message has no type");
  if (!CONTROL_TYPES.has(obj.type)) throw new ProtocolError(`unknown message type ${JSON.stringify(obj.type)}`);
  switch (obj.type) {
    case "hello":
      return { type: "hello", streams: Array.isArray(obj.streams) ? obj.streams.filter(isMap).map(streamInfo) : [] };
    case "stream":
      return { type: "stream", ...streamInfo(obj) };
    case "ended":
      return { type: "ended", stream: String(obj.stream ?? "") };
    default:
      return { type: "error", code: obj.code ?? null, message: String(obj.message ?? "") };
  }
}

function streamInfo(obj) {
  return { stream: String(obj.stream ?? ""), imageSize: imageSize(obj.imageSize) };
}

/**
 * A result. `tracks` names the trackers it reports (docs/protocol.md); a
 * message without `tracks` is a face-only result (the original contract). For
 * each tracker in `tracks`, its key (faces / poses / hands) is a list, empty
 * when the tracker found nothing; a tracker not in `tracks` has null: this
 * message says nothing about it.
 */
function parseLandmarks(obj) {
  if (typeof obj.stream !== "string") throw new ProtocolError("landmarks: stream is not a string");
  const tracks = parseTracks(obj);
  const ts = {};
  if (isMap(obj.ts)) {
    for (const [k, v] of Object.entries(obj.ts)) if (Number.isFinite(v)) ts[k] = Number(v);
  }
  const list = (tracker, parse) => {
    const key = TRACKER_KEYS[tracker];
    if (!tracks.includes(tracker)) return null;
    if (obj[key] === undefined && obj.error) return []; // a failed frame may carry no lists
    if (!Array.isArray(obj[key])) throw new ProtocolError(`landmarks: ${key} is not a list`);
    return obj[key].map(parse);
  };
  return {
    type: "landmarks",
    stream: String(obj.stream),
    seq: Number.isFinite(obj.seq) ? Number(obj.seq) : -1,
    imageSize: imageSize(obj.imageSize),
    ts,
    tracks,
    faces: list("face", parseFace),
    poses: list("pose", parsePose),
    hands: list("hands", parseHand),
    worker: typeof obj.worker === "string" ? obj.worker : "",
    error: isMap(obj.error) ? obj.error : null,
  };
}

function parseTracks(obj) {
  if (obj.tracks === undefined) return ["face"];
  if (!Array.isArray(obj.tracks) || !obj.tracks.every((t) => typeof t === "string")) {
    throw new ProtocolError("landmarks: tracks is not a list of names");
  }
  // unknown tracker names are skipped: a newer gateway may know more trackers
  return TRACKERS.filter((t) => obj.tracks.includes(t));
}

function parsePose(pose, i) {
  if (!isMap(pose)) throw new ProtocolError(`pose ${i}: not a map`);
  return {
    landmarks: floats(pose.landmarks, NUM_POSE_LANDMARKS * 5, `pose ${i} landmarks`),
    world: floats(pose.world, NUM_POSE_LANDMARKS * 3, `pose ${i} world`),
  };
}

function parseHand(hand, i) {
  if (!isMap(hand)) throw new ProtocolError(`hand ${i}: not a map`);
  if (hand.handedness !== "Left" && hand.handedness !== "Right") {
    throw new ProtocolError(`hand ${i}: handedness must be "Left" or "Right"`);
  }
  if (!Number.isFinite(hand.score)) throw new ProtocolError(`hand ${i}: score is not a number`);
  return {
    handedness: hand.handedness,
    score: Number(hand.score),
    landmarks: floats(hand.landmarks, NUM_HAND_LANDMARKS * 3, `hand ${i} landmarks`),
    world: floats(hand.world, NUM_HAND_LANDMARKS * 3, `hand ${i} world`),
  };
}

function parseFace(face, i) {
  if (!isMap(face)) throw new ProtocolError(`face ${i}: not a map`);
  return {
    landmarks: floats(face.landmarks, NUM_LANDMARKS * 3, `face ${i} landmarks`),
    // blendshapes and matrix are optional here: the overlay draws the landmarks only
    blendshapes: face.blendshapes == null ? null : floats(face.blendshapes, NUM_BLENDSHAPES, `face ${i} blendshapes`),
    matrix: face.matrix == null ? null : floats(face.matrix, 16, `face ${i} matrix`),
  };
}

/** msgpack bin -> Float32Array, read as little-endian whatever the host order. */
export function floats(bin, count, what) {
  if (!(bin instanceof Uint8Array)) throw new ProtocolError(`${what}: expected bin`);
  if (bin.byteLength !== count * 4) {
    throw new ProtocolError(`${what}: expected ${count} float32 (${count * 4} bytes), got ${bin.byteLength} bytes`);
  }
  // decode() hands out views into the message buffer at arbitrary offsets, so
  // read through a DataView instead of aliasing a Float32Array on it.
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

function imageSize(obj) {
  const w = isMap(obj) ? Number(obj.width) : NaN;
  const h = isMap(obj) ? Number(obj.height) : NaN;
  return w > 0 && h > 0 ? { width: w, height: h } : null;
}

function isMap(x) {
  return x !== null && typeof x === "object" && !Array.isArray(x) && !(x instanceof Uint8Array);
}
