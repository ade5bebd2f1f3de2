// What the avatar shows: the latest motion from the gateway's rig, held
// between messages. The gateway solves and smooths (live2d_pose/rig/), and
// when results stop it keeps easing toward rest and publishes that; the page
// only holds what came (a display frame draws the newest motion, so every
// refresh rate shows the same). On its own it eases toward rest only while
// the gateway itself is unreachable.
//
// A full message replaces everything (a bone it does not list is at rest); a
// delta changes only what it carries, and only on top of a full message of
// the same stream. Pure: time is passed in.
import { BLENDSHAPES, EXPRESSIONS, NEUTRAL, PART_NAMES, REST, REST_HIPS_POSITION, restRotation } from "./contract.js";
import { nlerp } from "./quat.js";

const EASE_TAU_MS = 400; // how fast the page eases toward rest on its own (the rig's rest cutoff, 0.4 Hz)
const TRACKERS = ["face", "pose", "hands"];

const zeros = (names) => Object.fromEntries(names.map((n) => [n, 0]));

export class MotionHolder {
  constructor() {
    this.reset(null);
  }

  /** Nothing held: the rest pose (bones that were driven go back to rest too). */
  reset(stream, previous = this.state?.bones ?? {}) {
    this.stream = stream;
    this.based = false; // a full message of this stream has come: deltas apply
    this.seq = -1;
    this.session = null;
    this.ts = {};
    this.times = Object.fromEntries(TRACKERS.map((t) => [t, null]));
    this.live2d = { ...NEUTRAL };
    this.headPosition = null;
    this.state = {
      bones: { ...Object.fromEntries(Object.keys(previous).map((b) => [b, restRotation(b)])), ...REST },
      expressions: zeros(EXPRESSIONS),
      blendshapes: zeros(BLENDSHAPES),
      gaze: { yaw: 0, pitch: 0 },
      seen: { face: false, pose: false, leftHand: false, rightHand: false },
      parts: zeros(PART_NAMES), // each part's weight: 1 followed, 0 at rest
      hipsPosition: null, // metres in the room, once the rig has placed the body
    };
  }

  /**
   * One parsed motion message (protocol.js). Returns false when it could not
   * be used: a delta without the full message it builds on (another stream's,
   * or before the first full one).
   */
  apply(msg) {
    if (msg.full) this.reset(msg.stream);
    else if (!this.based || msg.stream !== this.stream) return false;
    this.based = true;
    this.seq = msg.seq;
    this.ts = msg.ts;
    if (msg.session !== null) this.session = msg.session;
    if (msg.times) this.times = { ...this.times, ...msg.times };
    const s = this.state;
    // each message makes a new state object: what a frame handed to the avatar stays as it was
    this.state = {
      bones: msg.bones ? { ...s.bones, ...msg.bones } : s.bones,
      expressions: msg.expressions ?? s.expressions,
      blendshapes: msg.blendshapes ?? s.blendshapes,
      gaze: msg.gaze ?? s.gaze,
      seen: msg.seen ?? s.seen,
      parts: msg.parts ?? s.parts,
      hipsPosition: msg.hipsPosition !== undefined ? msg.hipsPosition : s.hipsPosition,
    };
    if (msg.live2d) this.live2d = msg.live2d;
    if (msg.headPosition !== undefined) this.headPosition = msg.headPosition;
    return true;
  }

  get tracking() {
    return Object.values(this.state.seen).some(Boolean);
  }

  /** The gateway is unreachable: `dtMs` more of easing toward rest, on the page's own clock. */
  easeToRest(dtMs) {
    const k = 1 - Math.exp(-Math.max(0, dtMs) / EASE_TAU_MS);
    const toward = (values, rest) => Object.fromEntries(Object.entries(values).map(([n, v]) => [n, v + k * ((rest[n] ?? 0) - v)]));
    const s = this.state;
    this.state = {
      bones: Object.fromEntries(Object.entries(s.bones).map(([b, q]) => [b, nlerp(q, restRotation(b), k)])),
      expressions: toward(s.expressions, {}),
      blendshapes: toward(s.blendshapes, {}),
      gaze: toward(s.gaze, {}),
      seen: { face: false, pose: false, leftHand: false, rightHand: false },
      parts: toward(s.parts, {}),
      hipsPosition: s.hipsPosition && s.hipsPosition.map((v, i) => v + k * (REST_HIPS_POSITION[i] - v)),
    };
    this.live2d = toward(this.live2d, NEUTRAL);
  }
}
