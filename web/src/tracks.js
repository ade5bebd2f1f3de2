// The latest result of each tracker (face, pose, hands) of the followed stream.
//
// One frame's trackers may come in one message or in several, one per
// tracker (docs/protocol.md); per tracker the gateway never sends an older seq
// than one it sent, and this store holds to that too (a late message for a
// tracker is counted and dropped). It also keeps each tracker's rate and
// latency for the HUD. Pure: times are passed in.
import { TRACKERS, TRACKER_KEYS } from "./protocol.js";

const RATE_WINDOW_MS = 2000;

export class TrackStore {
  constructor() {
    this.reset();
  }

  reset() {
    this.latest = {}; // tracker -> {seq, items, t, at, latencyMs}
    this.arrivals = Object.fromEntries(TRACKERS.map((t) => [t, []]));
    this.latency = {}; // tracker -> smoothed end-to-end ms
    this.stale = 0;
  }

  /**
   * Take one parsed landmarks message. Returns the trackers it updated.
   * @param {object} msg from protocol.parseMessage
   * @param {number} now performance.now() of its arrival
   * @param {number} wallNow Date.now() at arrival (latency against ts.ingest)
   */
  offer(msg, now, wallNow = Date.now()) {
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
      this.latest[tracker] = { stream: msg.stream, seq: msg.seq, items, t: msg.ts.ingest ?? now, at: now, latencyMs };
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
