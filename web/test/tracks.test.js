import { test } from "node:test";
import assert from "node:assert/strict";
import { TrackStore } from "../src/tracks.js";

const msg = (seq, tracks, extra = {}) => ({
  type: "landmarks", stream: "s", seq, ts: { ingest: 1000 + seq }, tracks,
  faces: tracks.includes("face") ? [{ id: `f${seq}` }] : null,
  poses: tracks.includes("pose") ? [{ id: `p${seq}` }] : null,
  hands: tracks.includes("hands") ? [] : null,
  ...extra,
});

test("one message per tracker: each tracker keeps its own latest result", () => {
  const s = new TrackStore();
  assert.deepEqual(s.offer(msg(1, ["face"]), 0, 1100), ["face"]);
  assert.deepEqual(s.offer(msg(1, ["pose"]), 5, 1100), ["pose"]);
  assert.deepEqual(s.offer(msg(2, ["face"]), 40, 1100), ["face"]);
  assert.equal(s.latest.face.items[0].id, "f2");
  assert.equal(s.latest.pose.items[0].id, "p1", "a slower tracker's result stays until it has a newer one");
  assert.deepEqual(s.offer(msg(2, ["face", "pose", "hands"]), 60, 1100), ["pose", "hands"], "face seq 2 again is not newer");
  assert.equal(s.stale, 1);
});

test("never go back to an older seq for a tracker", () => {
  const s = new TrackStore();
  s.offer(msg(5, ["pose"]), 0);
  assert.deepEqual(s.offer(msg(4, ["pose"]), 10), []);
  assert.equal(s.latest.pose.seq, 5);
  assert.equal(s.stale, 1);
  // a new stream (the page switched) starts over
  assert.deepEqual(s.offer({ ...msg(1, ["pose"]), stream: "other" }, 20), ["pose"]);
});

test("fresh() ages out; stats() gives a rate and a latency per tracker", () => {
  const s = new TrackStore();
  for (let i = 1; i <= 11; i++) s.offer(msg(i, ["face"]), i * 100, 1000 + i + 30);
  assert.equal(s.fresh("face", 1150, 500).seq, 11);
  assert.equal(s.fresh("face", 1700, 500), null);
  assert.equal(s.fresh("pose", 1150, 500), null);
  const st = s.stats(1150);
  assert.ok(Math.abs(st.face.rate - 10) < 1e-9, `rate ${st.face.rate}`);
  assert.ok(Math.abs(st.face.latencyMs - 30) < 1e-9);
  assert.equal(st.pose, undefined);
});
