// The body the page shows: each tracker's newest result (tracks.js), solved
// into one body state (solve.js) and smoothed (state-filter.js) channel by
// channel at the times of the results it comes from, all on the page's clock
// (filter.js's ResultClock maps each result's ts.ingest onto it).
//
// main.js feeds it every landmarks message, and steps it on its own while no
// results come, so a lost body eases back to rest on the same clock as the
// results. live2d_pose.rig.Rig (the VMC / VTube Studio outputs) is its
// Python twin; docs/rig.md "Smoothing" is the rule both follow. Pure: times
// are passed in.
import { TrackStore } from "./tracks.js";
import { solve } from "./solve.js";
import { StateFilter } from "./state-filter.js";
import { ResultClock } from "./filter.js";
import { TRACKERS } from "./protocol.js";

export const TRACKER_STALE_MS = 500; // a tracker's result that arrived longer ago than this is "not seen"

export class BodyTracker {
  /**
   * @param {object} o
   * @param {object} [o.scale] the page's filter multipliers ({minCutoff, beta})
   * @param {object} [o.tuning] the body's tuning per kind (default: state-filter.js's BODY_TUNING)
   * @param {ResultClock} [o.clock] the page's clock mapping (shared with the face's smoother)
   * @param {function} [o.onError] called with an error SOLVE threw (the state is then "nothing seen")
   */
  constructor({ scale, tuning, clock = null, staleMs = TRACKER_STALE_MS, onError = null } = {}) {
    this.tracks = new TrackStore();
    this.filter = new StateFilter({ scale, tuning });
    this.clock = clock ?? new ResultClock({ staleMs });
    this.staleMs = staleMs;
    this.onError = onError ?? (() => {});
    this.solved = null; // the last state as solved: only what was seen
    this.state = null; // the last filtered state: every channel
    this.steppedAt = -Infinity; // page time of the last step
  }

  /**
   * One landmarks message (protocol.parseMessage) arriving at `now` (page
   * clock; `wall` is Date.now(), for the latency figures). Steps the body when
   * the message brought a tracker a newer result; returns the trackers it updated.
   */
  offer(msg, now, wall = Date.now()) {
    const t = this.clock.toLocal(msg.ts.ingest, now);
    const updated = this.tracks.offer(msg, now, wall, t);
    if (updated.length) this.step(now);
    return updated;
  }

  /**
   * Solve the fresh result of each tracker and step the filter: each channel
   * at its tracker's result time; with no tracker fresh, everything eases
   * toward rest at `now`. The face and the hands are solved against the pose
   * of their own frame (the newest pose result not newer than theirs), so a
   * pose a frame ahead or behind neither shifts them nor is lost.
   */
  step(now) {
    const fresh = Object.fromEntries(TRACKERS.map((k) => [k, this.tracks.fresh(k, now, this.staleMs)]));
    const times = Object.fromEntries(TRACKERS.map((k) => [k, fresh[k]?.t ?? null]));
    const known = Object.values(times).filter((t) => t !== null);
    const t = known.length ? Math.max(...known) : now; // the newest result's time
    const poseAt = (r) => (r ? this.tracks.resultAt("pose", r.t, now, this.staleMs)?.items[0] ?? null : null);
    try {
      this.solved = solve({
        face: fresh.face?.items[0] ?? null, pose: fresh.pose?.items[0] ?? null, hands: fresh.hands?.items ?? [],
        t, times, facePose: poseAt(fresh.face), handsPose: poseAt(fresh.hands),
      });
    } catch (err) {
      this.onError(err);
      this.solved = solve({ t, times });
    }
    this.state = this.filter.filter(this.solved);
    this.steppedAt = now;
    return this.state;
  }

  /** The page follows another stream: forget the trackers' results (the filters ease on), and map
   * the new stream's times afresh (it may come through another ingest, on another clock). */
  reset() {
    this.tracks.reset();
    this.clock.reset();
  }
}
