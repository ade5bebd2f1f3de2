// One Euro filter (Casiez, Roussel, Vogel, CHI 2012) per rig channel.
//
// Why not a fixed lerp: a lerp trades jitter for lag once and for all. The One
// Euro filter adapts its cutoff to the signal's speed: a still head gets a low
// cutoff (no jitter), a fast turn or a blink raises it (little lag).
//
// Filter once per tracking RESULT, at the result's own timestamp, never once
// per animation frame: stepping a filter every display frame with a held
// target makes its smoothing depend on the display's refresh rate (a 144 Hz
// monitor and a 30 fps OBS source would show different lag). The speed that
// drives the cutoff comes from the previous RAW sample, as in Casiez's
// reference implementation, not from the last filtered value (which made
// beta act more the more often the filter ran).
//
// The tuning lives in live2d_pose/rig/tuning.json, shared with the Python
// port (live2d_pose/rig/filter.py) so every output smooths alike.
// Pure: time is passed in (ms), so tests drive it with synthetic clocks.
import TUNING_FILE from "../../live2d_pose/rig/tuning.json" with { type: "json" };

function alpha(cutoffHz, dtS) {
  const tau = 1 / (2 * Math.PI * cutoffHz);
  return 1 / (1 + tau / dtS);
}

export class OneEuroFilter {
  /**
   * @param {object} o
   * @param {number} o.minCutoff Hz; lower = smoother at rest, more lag.
   * @param {number} o.beta cutoff gain per unit/s of speed; higher = less lag when moving.
   * @param {number} o.dCutoff Hz, cutoff of the speed estimate.
   */
  constructor({ minCutoff = 1.0, beta = 0.0, dCutoff = 1.0 } = {}) {
    this.minCutoff = minCutoff;
    this.beta = beta;
    this.dCutoff = dCutoff;
    this.reset();
  }

  reset() {
    this.out = null; // last filtered value
    this.raw = null; // last raw sample: the speed estimate's reference
    this.dx = 0; // filtered speed (units / s)
    this.t = null; // ms of the last sample
  }

  /**
   * Filter one sample taken at time tMs; returns the filtered value. A
   * non-finite value, or a sample not later than the previous one (the same
   * instant twice, a clock step back), carries no usable rate: it is ignored
   * and the last output returned.
   */
  filter(value, tMs) {
    if (!Number.isFinite(value) || !Number.isFinite(tMs)) return this.out ?? 0;
    if (this.out === null) {
      this.out = this.raw = value;
      this.t = tMs;
      return value;
    }
    const dt = (tMs - this.t) / 1000;
    if (!(dt > 0)) return this.out;
    const rawDx = (value - this.raw) / dt;
    this.dx += alpha(this.dCutoff, dt) * (rawDx - this.dx);
    const cutoff = this.minCutoff + this.beta * Math.abs(this.dx);
    this.out += alpha(cutoff, dt) * (value - this.out);
    this.raw = value;
    this.t = tMs;
    return this.out;
  }
}

function deepFreeze(o) {
  for (const v of Object.values(o)) if (v && typeof v === "object") deepFreeze(v);
  return Object.freeze(o);
}

/** Tuning per kind of channel: {kind: {match, unit, minCutoff, beta, dCutoff}}. */
export const DEFAULT_TUNING = deepFreeze(JSON.parse(JSON.stringify(TUNING_FILE.kinds)));

const matchers = new WeakMap(); // tuning object -> [[kind, RegExp]]

/**
 * The kind of a channel: the first kind (in the tuning's order) whose `match`
 * pattern matches the name; "other" when none does.
 */
export function channelKind(name, tuning = DEFAULT_TUNING) {
  let list = matchers.get(tuning);
  if (!list) {
    list = Object.entries(tuning)
      .filter(([, t]) => t.match)
      .map(([kind, t]) => [kind, new RegExp(t.match)]);
    matchers.set(tuning, list);
  }
  for (const [kind, re] of list) if (re.test(name)) return kind;
  return "other";
}

/**
 * A One Euro filter per channel of a parameter map, tuned by the channel's
 * kind. Call filter() once per tracking result with the result's timestamp.
 * `scale.minCutoff` and `scale.beta` multiply every channel's tuning (the
 * page's ?mincutoff= and ?beta= query parameters). `kindOf(name)` picks the
 * kind (default: the tuning's `match` patterns).
 */
export class RigFilter {
  constructor({ tuning = DEFAULT_TUNING, scale = { minCutoff: 1, beta: 1 }, kindOf = null } = {}) {
    this.tuning = tuning;
    this.scale = { minCutoff: scale.minCutoff ?? 1, beta: scale.beta ?? 1 };
    this.kindOf = kindOf ?? ((name) => channelKind(name, tuning));
    this.filters = new Map();
  }

  /** params: {channel: number}; returns the filtered map. */
  filter(params, tMs) {
    const out = {};
    for (const [name, value] of Object.entries(params)) out[name] = this.channel(name).filter(value, tMs);
    return out;
  }

  /** The filter of one channel, made on first use. */
  channel(name) {
    let f = this.filters.get(name);
    if (!f) {
      const t = this.tuning[this.kindOf(name)] ?? this.tuning.other;
      f = new OneEuroFilter({
        minCutoff: t.minCutoff * this.scale.minCutoff,
        beta: t.beta * this.scale.beta,
        dCutoff: t.dCutoff ?? 1,
      });
      this.filters.set(name, f);
    }
    return f;
  }

  reset() {
    this.filters.clear();
  }
}

/**
 * Maps results' server timestamps (ts.ingest, epoch ms) onto the page's clock
 * (performance.now()), keeping their spacing exact: the filter's dt is the
 * camera's frame interval, not the network's arrival jitter. The offset is
 * the fastest arrival seen, so a mapped time is never later than the result's
 * arrival. reset() when tracking resumes after a pause (or the stream changes).
 */
export class ResultClock {
  constructor() {
    this.reset();
  }

  reset() {
    this.offset = null;
  }

  /** Page time of a result stamped tsMs (server clock) that arrived at nowMs. */
  toLocal(tsMs, nowMs) {
    if (!Number.isFinite(tsMs)) return nowMs;
    const offset = tsMs - nowMs;
    if (this.offset === null || offset > this.offset) this.offset = offset;
    return tsMs - this.offset;
  }
}

/**
 * The page's smoothing: a RigFilter stepped once per tracking result at the
 * result's timestamp (mapped onto the page's clock by a ResultClock), never
 * per animation frame; frames draw the latest filtered value. With nobody
 * tracked, frames ease toward a rest pose on the page's clock.
 */
export class ResultSmoother {
  constructor({ tuning = DEFAULT_TUNING, scale, kindOf, staleMs = 500 } = {}) {
    this.filter = new RigFilter({ tuning, scale, kindOf });
    this.clock = new ResultClock();
    this.staleMs = staleMs;
    this.lastResultAt = -Infinity; // page time of the last result's arrival
    this.current = null;
  }

  /** One result's parameters, stamped tsMs (server clock), arriving at nowMs (page clock). */
  result(params, tsMs, nowMs) {
    if (nowMs - this.lastResultAt >= this.staleMs) this.clock.reset(); // resuming: re-anchor
    this.lastResultAt = nowMs;
    this.current = this.filter.filter(params, this.clock.toLocal(tsMs, nowMs));
    return this.current;
  }

  /**
   * What to draw at a display frame: the latest result's filtered values, or
   * with `idle` (a rest pose: nobody tracked) the filter stepped toward it now.
   */
  frame(nowMs, idle = null) {
    if (idle) this.current = this.filter.filter(idle, nowMs);
    return this.current;
  }
}
