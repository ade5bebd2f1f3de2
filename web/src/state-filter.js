// One Euro smoothing of the body state (docs/rig.md "Smoothing"), with the
// face's filter (filter.js) and per-kind tuning for the body's channels.
//
// Every channel is filtered on every step: one the state lacks (not seen) is
// filtered toward its rest value, so a lost joint eases back and a found one
// eases in; nothing jumps. Quaternions are filtered component-wise after
// being flipped into the previous output's hemisphere (q and -q are the same
// rotation), then renormalized. Pure: time is passed in.
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

const SEEN_KEYS = ["face", "pose", "leftHand", "rightHand"];
const BLENDSHAPES = BLENDSHAPE_NAMES.filter((n) => n !== "_neutral");

export class StateFilter {
  constructor({ tuning = BODY_TUNING, scale = { minCutoff: 1, beta: 1 } } = {}) {
    this.tuning = tuning;
    this.scale = { minCutoff: scale.minCutoff ?? 1, beta: scale.beta ?? 1 };
    this.filters = new Map();
    this.quats = new Map(); // bone -> last filtered quaternion
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

  /** Filter one solved state taken at tMs; returns a complete state (every bone, expression, gaze). */
  filter(state, tMs) {
    const bones = {};
    for (const name of BONES) {
      const resting = !state.bones[name];
      const target = state.bones[name] ?? restRotation(name);
      const prev = this.quats.get(name);
      const flip = prev && prev[0] * target[0] + prev[1] * target[1] + prev[2] * target[2] + prev[3] * target[3] < 0 ? -1 : 1;
      const kind = boneKind(name);
      const q = target.map((v, i) => step(this.f(`${name}.${i}`, kind), flip * v, tMs, resting));
      const n = Math.hypot(q[0], q[1], q[2], q[3]) || 1;
      bones[name] = [q[0] / n, q[1] / n, q[2] / n, q[3] / n];
      this.quats.set(name, bones[name]);
    }
    const expressions = {};
    for (const name of EXPRESSIONS) {
      const kind = BLINKS.has(name) ? "eye" : "expression";
      expressions[name] = step(this.f(`expr.${name}`, kind), state.expressions[name] ?? 0, tMs, !(name in state.expressions));
    }
    const blendshapes = {};
    for (const name of BLENDSHAPES) {
      blendshapes[name] = step(this.f(`bs.${name}`, "expression"), state.blendshapes?.[name] ?? 0, tMs, !state.blendshapes);
    }
    const gaze = {
      yaw: step(this.f("gaze.yaw", "gaze"), state.gaze?.yaw ?? 0, tMs, !state.gaze),
      pitch: step(this.f("gaze.pitch", "gaze"), state.gaze?.pitch ?? 0, tMs, !state.gaze),
    };
    const seen = Object.fromEntries(SEEN_KEYS.map((k) => [k, Boolean(state.seen?.[k])]));
    return { version: state.version, t: tMs, seen, bones, expressions, gaze, blendshapes };
  }

  reset() {
    this.filters.clear();
    this.quats.clear();
  }
}
