// The latest result of each tracker (face, pose, hands) of the followed stream.
//
// One frame's trackers may come in one message or in several, one per
// tracker (docs/protocol.md); per tracker the gateway never sends an older seq
// than one it sent, and this store holds to that too (a late message for a
// tracker is counted and dropped). It keeps each tracker's last few results,
// so a face or hands result can be solved against the pose of its own frame
// when the pose runs a frame ahead or behind (resultAt), and each tracker's
// rate and latency for the HUD. Pure: times are passed in.
import { TRACKERS, TRACKER_KEYS } from "./protocol.js";

const RATE_WINDOW_MS = 2000;
const KEEP = 3; // results kept per tracker: the latest and the two before it

export class TrackStore {
  constructor() {
    this.reset();
  }

  reset() {
    this.latest = {}; // tracker -> {stream, seq, items, t (result time), at (arrival), latencyMs}
    this.recent = Object.fromEntries(TRACKERS.map((t) => [t, []])); // tracker -> its last KEEP results, oldest first
    this.arrivals = Object.fromEntries(TRACKERS.map((t) => [t, []]));
    this.latency = {}; // tracker -> smoothed end-to-end ms
    this.stale = 0;
  }

  /**
   * Take one parsed landmarks message. Returns the trackers it updated.
   * @param {object} msg from protocol.parseMessage
   * @param {number} now performance.now() of its arrival
   * @param {number} wallNow Date.now() at arrival (latency against ts.ingest)
   * @param {number} t the result's time on the page's clock (its ts.ingest
   *   mapped by filter.js's ResultClock): what the filters step at
   */
  offer(msg, now, wallNow = Date.now(), t = now) {
    const updated = [];
    for (const tracker of msg.tracks) {
      const items = msg[TRACKER_KEYS[tracker]];
      if (items == null) continue;
      const prev = this.latest[tracker];
      if (prev && msg.seq <= prev.seq && msg.stream === prev.stream) {
        this.stale += 1;
        continue;
      }
      const latencyMs = Number.isFinite(msg.ts.ingest) ? wallNow - msg.ts.ingest : null;
      const result = { stream: msg.stream, seq: msg.seq, items, t, at: now, latencyMs };
      this.latest[tracker] = result;
      if (prev && prev.stream !== msg.stream) this.recent[tracker] = [];
      this.recent[tracker].push(result);
      if (this.recent[tracker].length > KEEP) this.recent[tracker].shift();
      this.arrivals[tracker].push(now);
      if (latencyMs != null) {
        const p = this.latency[tracker];
        this.latency[tracker] = p == null ? latencyMs : p + 0.2 * (latencyMs - p);
      }
      updated.push(tracker);
    }
    return updated;
  }

  /** The newest items of a tracker if they arrived within maxAgeMs of now, else null. */
  fresh(tracker, now, maxAgeMs) {
    const l = this.latest[tracker];
    return l && now - l.at <= maxAgeMs ? l : null;
  }

  /**
   * The fresh result of `tracker` that belongs with a result taken at time t:
   * the newest one not newer than t, else (all kept are newer) the oldest
   * kept; null when none is fresh.
   */
  resultAt(tracker, t, now, maxAgeMs) {
    const fresh = this.recent[tracker].filter((r) => now - r.at <= maxAgeMs);
    if (!fresh.length) return null;
    for (let i = fresh.length - 1; i >= 0; i--) if (fresh[i].t <= t) return fresh[i];
    return fresh[0];
  }

  /** Per tracker that has reported: {rate (results/s over 2 s), latencyMs}. */
  stats(now) {
    const out = {};
    for (const tracker of TRACKERS) {
      if (!this.latest[tracker]) continue;
      const recent = this.arrivals[tracker].filter((t) => now - t <= RATE_WINDOW_MS);
      this.arrivals[tracker] = recent;
      const rate = recent.length < 2 || now - recent[recent.length - 1] > 1000
        ? 0
        : ((recent.length - 1) * 1000) / (recent[recent.length - 1] - recent[0]);
      out[tracker] = { rate, latencyMs: this.latency[tracker] ?? null };
    }
    return out;
  }
}
