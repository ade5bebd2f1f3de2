// One Euro smoothing of the body state (docs/rig.md "Smoothing"), with the
// face's filter (filter.js) and per-kind tuning for the body's channels.
//
// Every channel is filtered on every step: one the state lacks (not seen) is
// filtered toward its rest value, so a lost joint eases back and a found one
// eases in; nothing jumps. Quaternions are filtered component-wise after
// being flipped into the previous output's hemisphere (q and -q are the same
// rotation), then renormalized. Pure: time is passed in.
//
// Each channel is sampled at the time of the tracker result it comes from
// (state.times; boneTracker), not at the newest message's: the pipeline
// sends each tracker's result of a frame in its own message, and a slow
// tracker's may come after the next frame's face. A sample at a channel's
// last time replaces its last sample (filter.js), so when the pose of a
// frame arrives after that frame's face or hands (the head is relative to
// its chest, a hand to its forearm), it counts at once.
import { OneEuroFilter, DEFAULT_TUNING } from "./filter.js";
import { BONES, EXPRESSIONS, restRotation } from "./solve.js";
import { BLENDSHAPE_NAMES } from "./protocol.js";

// Quaternion components move ~1 unit/s in a quick arm swing; expressions are
// 0..1. The values live in live2d_pose/rig/tuning.json with the face's (one
// source for the viewer and the Python rig); the blinks use the eyelids' kind.
export const BODY_TUNING = Object.freeze(Object.fromEntries(
  ["torso", "headBone", "arm", "finger", "expression", "gaze", "eye"].map((k) => [k, DEFAULT_TUNING[k]])));
const BLINKS = new Set(["blinkLeft", "blinkRight"]);

export function boneKind(name) {
  if (name === "neck" || name === "head") return "headBone";
  if (/Arm$/.test(name) || /Hand$/.test(name)) return "arm";
  if (/(Thumb|Index|Middle|Ring|Little)/.test(name)) return "finger";
  return "torso";
}

// A channel that is not seen eases to rest at this fixed, slow cutoff (no
// speed boost): the jump from "raised" to "rest" would otherwise read as a
// fast move and be followed at once.
export const REST_EASE = DEFAULT_TUNING.rest;

/** One filter step; `resting` uses REST_EASE instead of the channel's tuning. */
function step(f, value, tMs, resting) {
  if (!resting) return f.filter(value, tMs);
  const { minCutoff, beta } = f;
  f.minCutoff = REST_EASE.minCutoff;
  f.beta = REST_EASE.beta;
  const out = f.filter(value, tMs);
  f.minCutoff = minCutoff;
  f.beta = beta;
  return out;
}

/**
 * The tracker whose result a bone comes from (docs/rig.md "Smoothing"); the
 * expressions, gaze and blendshapes come from the face.
 */
export function boneTracker(name) {
  if (name === "neck" || name === "head") return "face"; // relative to the chest of the face's frame
  if (/Hand$/.test(name) || /(Thumb|Index|Middle|Ring|Little)/.test(name)) return "hands"; // sided and hinged by its frame's pose
  return "pose";
}

/** A channel's sample time: its tracker's result time in the state, else `t` (that tracker is not in it). */
export function sampleTime(times, tracker, t) {
  const ts = times?.[tracker];
  return Number.isFinite(ts) ? ts : t;
}

const SEEN_KEYS = ["face", "pose", "leftHand", "rightHand"];
const BLENDSHAPES = BLENDSHAPE_NAMES.filter((n) => n !== "_neutral");

export class StateFilter {
  constructor({ tuning = BODY_TUNING, scale = { minCutoff: 1, beta: 1 } } = {}) {
    this.tuning = tuning;
    this.scale = { minCutoff: scale.minCutoff ?? 1, beta: scale.beta ?? 1 };
    this.filters = new Map();
    this.quats = new Map(); // bone -> {t, q: last output, before: the output before it}
  }

  f(key, kind) {
    let f = this.filters.get(key);
    if (!f) {
      const t = this.tuning[kind];
      f = new OneEuroFilter({ minCutoff: t.minCutoff * this.scale.minCutoff, beta: t.beta * this.scale.beta, dCutoff: t.dCutoff ?? 1 });
      this.filters.set(key, f);
    }
    return f;
  }

  /**
   * Filter one solved state; returns a complete state (every bone,
   * expression, gaze). Each channel steps at its tracker's result time in
   * `state.times`; `tMs` (default `state.t`) is the time of the channels
   * whose tracker is not in the state (easing to rest).
   */
  filter(state, tMs = state.t) {
    const times = state.times ?? null;
    const bones = {};
    for (const name of BONES) bones[name] = this.bone(name, state.bones[name], sampleTime(times, boneTracker(name), tMs));
    const tFace = sampleTime(times, "face", tMs);
    const expressions = {};
    for (const name of EXPRESSIONS) {
      const kind = BLINKS.has(name) ? "eye" : "expression";
      expressions[name] = step(this.f(`expr.${name}`, kind), state.expressions[name] ?? 0, tFace, !(name in state.expressions));
    }
    const blendshapes = {};
    for (const name of BLENDSHAPES) {
      blendshapes[name] = step(this.f(`bs.${name}`, "expression"), state.blendshapes?.[name] ?? 0, tFace, !state.blendshapes);
    }
    const gaze = {
      yaw: step(this.f("gaze.yaw", "gaze"), state.gaze?.yaw ?? 0, tFace, !state.gaze),
      pitch: step(this.f("gaze.pitch", "gaze"), state.gaze?.pitch ?? 0, tFace, !state.gaze),
    };
    const seen = Object.fromEntries(SEEN_KEYS.map((k) => [k, Boolean(state.seen?.[k])]));
    return { version: state.version, t: tMs, times: times && { ...times }, seen, bones, expressions, gaze, blendshapes };
  }

  /** One bone's filtered rotation: `q` (or its rest when absent) sampled at tMs. */
  bone(name, q, tMs) {
    const resting = !q;
    const target = q ?? restRotation(name);
    // The hemisphere of the output this step starts from: the last one, or
    // when this sample replaces the last (the same instant), the one before it.
    const last = this.quats.get(name);
    const prev = last && (tMs === last.t ? last.before : last.q);
    const flip = prev && prev[0] * target[0] + prev[1] * target[1] + prev[2] * target[2] + prev[3] * target[3] < 0 ? -1 : 1;
    const kind = boneKind(name);
    const c = target.map((v, i) => step(this.f(`${name}.${i}`, kind), flip * v, tMs, resting));
    const n = Math.hypot(c[0], c[1], c[2], c[3]) || 1;
    const out = [c[0] / n, c[1] / n, c[2] / n, c[3] / n];
    if (!last || tMs > last.t) this.quats.set(name, { t: tMs, q: out, before: last?.q ?? null });
    else if (tMs === last.t) last.q = out; // a replaced sample; an older one changed nothing
    return out;
  }

  reset() {
    this.filters.clear();
    this.quats.clear();
  }
}
