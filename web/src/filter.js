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
    this.before = null; // [out, raw, dx, t] before the last sample (null: it was the first)
  }

  /**
   * Filter one sample taken at time tMs; returns the filtered value.
   *
   * A second sample at the same instant as the last REPLACES it: the last
   * step is run again with the new value (a channel solved from several
   * trackers' results is sampled again when a later one of them arrives,
   * docs/rig.md "Smoothing"). A sample older than the last (a clock step
   * back), or a non-finite value, carries no usable rate: it is ignored and
   * the last output returned.
   */
  filter(value, tMs) {
    if (!Number.isFinite(value) || !Number.isFinite(tMs)) return this.out ?? 0;
    if (this.out !== null && tMs === this.t) this.undo();
    if (this.out === null) {
      this.out = this.raw = value;
      this.t = tMs;
      return value;
    }
    const dt = (tMs - this.t) / 1000;
    if (!(dt > 0)) return this.out;
    this.before = [this.out, this.raw, this.dx, this.t];
    const rawDx = (value - this.raw) / dt;
    this.dx += alpha(this.dCutoff, dt) * (rawDx - this.dx);
    const cutoff = this.minCutoff + this.beta * Math.abs(this.dx);
    this.out += alpha(cutoff, dt) * (value - this.out);
    this.raw = value;
    this.t = tMs;
    return this.out;
  }

  /** Back to the state before the last sample. */
  undo() {
    if (this.before === null) {
      this.reset();
      return;
    }
    [this.out, this.raw, this.dx, this.t] = this.before;
    this.before = null;
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
 * Maps results' server timestamps (ts.ingest, epoch ms on the ingest host's
 * clock) onto the page's clock (performance.now()), keeping their spacing
 * exact: the filters' dt is the camera's frame interval, not the network's
 * arrival jitter, and the page's own steps (easing to rest with nobody
 * tracked) are on the same clock, however far the two machines' clocks are
 * apart. The offset is the fastest arrival seen, so a mapped time is never
 * later than the result's arrival. After `staleMs` without any result the
 * next one re-anchors (the stream may come from a restarted or other host).
 * One clock serves all of a page's filters (main.js), so the face's and the
 * body's samples of one frame get the same time.
 */
export class ResultClock {
  constructor({ staleMs = Infinity } = {}) {
    this.staleMs = staleMs;
    this.reset();
  }

  reset() {
    this.offset = null;
    this.lastArrival = -Infinity;
  }

  /** Page time of a result stamped tsMs (server clock) that arrived at nowMs (page clock). */
  toLocal(tsMs, nowMs) {
    if (nowMs - this.lastArrival >= this.staleMs) this.offset = null; // resuming: re-anchor
    this.lastArrival = Math.max(this.lastArrival, nowMs);
    if (!Number.isFinite(tsMs)) return nowMs;
    const offset = tsMs - nowMs;
    if (this.offset === null || offset > this.offset) this.offset = offset;
    return tsMs - this.offset;
  }
}

/**
 * The page's face smoothing: a RigFilter stepped once per tracking result at
 * the result's timestamp (mapped onto the page's clock by a ResultClock,
 * shared with the body's filter when given), never per animation frame;
 * frames draw the latest filtered value. With nobody tracked, frames ease
 * toward a rest pose on the page's clock.
 */
export class ResultSmoother {
  constructor({ tuning = DEFAULT_TUNING, scale, kindOf, staleMs = 500, clock = null } = {}) {
    this.filter = new RigFilter({ tuning, scale, kindOf });
    this.clock = clock ?? new ResultClock({ staleMs });
    this.current = null;
  }

  /** One result's parameters, stamped tsMs (server clock), arriving at nowMs (page clock). */
  result(params, tsMs, nowMs) {
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
