// One Euro filter (Casiez, Roussel, Vogel, CHI 2012) per rig channel.
//
// Why not a fixed lerp: a lerp trades jitter for lag once and for all. The One
// Euro filter adapts its cutoff to the signal's speed: a still head gets a low
// cutoff (no jitter), a fast turn or a blink raises it (little lag).
// Pure: time is passed in (ms), so tests drive it with synthetic clocks.

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
    this.x = null; // last filtered value
    this.dx = 0; // last filtered speed (units / s)
    this.t = null; // ms
  }

  /** Filter one sample taken at time tMs; returns the filtered value. */
  filter(value, tMs) {
    if (!Number.isFinite(value)) return this.x ?? 0;
    if (this.x === null || this.t === null) {
      this.x = value;
      this.t = tMs;
      return value;
    }
    // Two samples at the same instant (or a clock step back): keep the rate
    // estimate sane instead of dividing by zero.
    const dt = Math.max((tMs - this.t) / 1000, 1e-3);
    this.t = tMs;
    const rawDx = (value - this.x) / dt;
    this.dx += alpha(this.dCutoff, dt) * (rawDx - this.dx);
    const cutoff = this.minCutoff + this.beta * Math.abs(this.dx);
    this.x += alpha(cutoff, dt) * (value - this.x);
    return this.x;
  }
}

// Defaults per kind of channel, in that channel's units: head angles are
// degrees (speeds of ~100 deg/s), eyes/mouth are 0..1 (a blink is ~10 /s).
export const DEFAULT_TUNING = Object.freeze({
  angle: { minCutoff: 1.2, beta: 0.03 },
  body: { minCutoff: 0.8, beta: 0.05 },
  eye: { minCutoff: 3.0, beta: 1.5 },
  eyeBall: { minCutoff: 2.0, beta: 0.5 },
  mouth: { minCutoff: 2.5, beta: 1.0 },
  brow: { minCutoff: 1.5, beta: 0.5 },
  other: { minCutoff: 1.5, beta: 0.3 },
});

export function channelKind(name) {
  if (/^ParamAngle/.test(name)) return "angle";
  if (/^ParamBody/.test(name)) return "body";
  if (/^ParamEye[LR](Open|Smile)$/.test(name)) return "eye";
  if (/^ParamEyeBall/.test(name)) return "eyeBall";
  if (/^ParamMouth/.test(name)) return "mouth";
  if (/^ParamBrow/.test(name)) return "brow";
  return "other";
}

/**
 * A One Euro filter per parameter of a rig map. `scale.minCutoff` and
 * `scale.beta` multiply every channel's tuning (the page's ?mincutoff= and
 * ?beta= query parameters).
 */
export class RigFilter {
  constructor({ tuning = DEFAULT_TUNING, scale = { minCutoff: 1, beta: 1 } } = {}) {
    this.tuning = tuning;
    this.scale = { minCutoff: scale.minCutoff ?? 1, beta: scale.beta ?? 1 };
    this.filters = new Map();
  }

  filter(params, tMs) {
    const out = {};
    for (const [name, value] of Object.entries(params)) {
      let f = this.filters.get(name);
      if (!f) {
        const t = this.tuning[channelKind(name)] ?? this.tuning.other;
        f = new OneEuroFilter({ minCutoff: t.minCutoff * this.scale.minCutoff, beta: t.beta * this.scale.beta });
        this.filters.set(name, f);
      }
      out[name] = f.filter(value, tMs);
    }
    return out;
  }

  reset() {
    this.filters.clear();
  }
}
