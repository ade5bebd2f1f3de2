// body.js: per-tracker results -> the filtered body state, on the page's clock.
//
// The pipeline sends one message per tracker per frame, all stamped with the
// frame's ts.ingest, a slow tracker's possibly after the next frame's face.
// Each channel must be smoothed at the times of the results it comes from
// (docs/rig.md "Smoothing"), and the page's own steps (easing to rest when
// results stop) must be on the same clock as the results, whatever the
// ingest host's clock says.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BodyTracker, TRACKER_STALE_MS } from "../src/body.js";
import { BONES, REST } from "../src/solve.js";
import { angleBetween, DEG } from "../src/quat.js";
import { recording, perTracker } from "./helpers.js";

const rec = recording("gesture");
const POSE_BONES = ["hips", "spine", "chest", "leftUpperArm", "leftLowerArm", "rightUpperArm", "rightLowerArm"];
const HAND_BONES = BONES.filter((b) => /Hand$|Thumb|Index|Middle|Ring|Little/.test(b));
const RAISED = [30, 60]; // gesture_video.mp4: the right arm rises around frames 40-55

/** Each message reaches the page when its frame is the newest so far (+ latency), on the page's clock. */
function feed(body, messages, { pageMinusIngest = 1000, latency = 0, ingestAhead = 0 } = {}) {
  let newest = -Infinity;
  return messages.map((m) => {
    newest = Math.max(newest, m.ts.ingest);
    const now = newest + pageMinusIngest + latency;
    body.offer({ ...m, ts: { ...m.ts, ingest: m.ts.ingest + ingestAhead } }, now, now);
    return { now, solved: body.solved, state: body.state };
  });
}

function sameBones(got, want, names, where) {
  for (const n of names) {
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(got.bones[n][i] - want.bones[n][i]) < 1e-12, `${where}: ${n}`);
  }
}

function sameFace(got, want, where) {
  for (const group of ["expressions", "blendshapes", "gaze"]) {
    for (const [k, v] of Object.entries(want[group])) assert.ok(Math.abs(got[group][k] - v) < 1e-12, `${where}: ${k}`);
  }
}

/** The recording without `tracker`'s result of the first frame. */
function withoutFirst(results, tracker) {
  const [first, ...rest] = results;
  const key = { face: "faces", pose: "poses", hands: "hands" }[tracker];
  return [{ ...first, tracks: first.tracks.filter((t) => t !== tracker), [key]: null }, ...rest];
}

const VARIANTS = {
  "face first": [["face", "pose", "hands"], null],
  "hands first": [["hands", "pose", "face"], null],
  "pose first": [["pose", "face", "hands"], null],
  "pose a frame late": [["face", "pose", "hands"], "pose"],
  "hands a frame late": [["face", "pose", "hands"], "hands"],
  "face a frame late": [["face", "pose", "hands"], "face"],
};

for (const [name, [order, late]] of Object.entries(VARIANTS)) {
  test(`per-tracker messages (${name}) smooth each channel as one message per frame does`, () => {
    // A tracker that starts a frame behind the others loses its first result: the
    // avatar had already stepped its channels (toward rest) past that time.
    const reference = feed(new BodyTracker(), late ? withoutFirst(rec.results, late) : rec.results);
    const frameOf = new Map(rec.results.map((r, i) => [r.seq, i]));
    const messages = perTracker(rec.results, order, late);
    const split = feed(new BodyTracker(), messages);
    const arrived = new Set(); // "tracker/seq"
    const latest = {};
    let checks = 0;
    messages.forEach((m, k) => {
      arrived.add(`${m.tracks[0]}/${m.seq}`);
      latest[m.tracks[0]] = m.seq;
      const got = split[k].state;
      const want = (tracker) => reference[frameOf.get(latest[tracker])].state;
      const where = `after frame ${m.seq}'s ${m.tracks}`;
      // Each tracker's channels equal the reference for its latest frame; the head and
      // the hands once that frame's pose is in too (they are solved against it). With
      // the pose late, they were solved against the pose before theirs: not compared.
      const posed = (seq) => late !== "pose" && arrived.has(`pose/${seq}`);
      if (latest.pose !== undefined) sameBones(got, want("pose"), POSE_BONES.filter((b) => split[k].solved.bones[b]), where);
      if (latest.face !== undefined) {
        sameFace(got, want("face"), where);
        if (posed(latest.face)) sameBones(got, want("face"), ["neck", "head"], where);
      }
      if (latest.hands !== undefined && posed(latest.hands)) sameBones(got, want("hands"), HAND_BONES, where);
      checks += 1;
    });
    assert.equal(checks, messages.length);
  });
}

test("a pose arriving after its frame's face is not dropped: the arm is the pose's, at the pose's time", () => {
  const messages = perTracker(rec.results.slice(...RAISED), ["face", "pose", "hands"]);
  const split = feed(new BodyTracker(), messages);
  const k = messages.findIndex((m) => m.seq === rec.results[45].seq && m.tracks[0] === "pose");
  assert.equal(split[k].state.times.pose, split[k - 1].state.times.face, "one frame, one time");
  assert.notDeepEqual(split[k].state.bones.rightUpperArm, split[k - 1].state.bones.rightUpperArm, "the pose moved the arm");
});

/**
 * The page as main.js runs it: per-tracker messages of the raised arm, then
 * nothing for 3 s (display frames every 16 ms step the body when no result
 * came for TRACKER_STALE_MS), then the raised arm again.
 */
function session(ingestAhead) {
  const body = new BodyTracker();
  const raised = rec.results.slice(...RAISED);
  const span = raised[raised.length - 1].ts.ingest - raised[0].ts.ingest;
  const out = [];
  const tracked = feed(body, perTracker(raised), { ingestAhead, latency: 25 });
  out.push(...tracked.map((s) => s.state));
  const lastArrival = tracked[tracked.length - 1].now;
  const idle = [];
  for (let now = lastArrival + 16; now < lastArrival + 3000; now += 16) {
    if (now - lastArrival > TRACKER_STALE_MS) idle.push(body.step(now));
  }
  const again = raised.map((r) => ({ ...r, seq: r.seq + 1000, ts: { ...r.ts, ingest: r.ts.ingest + span + 3040 } })); // 3 s later
  const resumed = feed(body, perTracker(again), { ingestAhead, latency: 25 }).map((s) => s.state);
  return { tracked: out, idle, resumed, all: [...out, ...idle, ...resumed] };
}

test("the ingest host's clock 5 s ahead of or behind the page changes nothing: results and easing share the page's clock", () => {
  const same = session(0);
  const arm = (s) => angleBetween(s.bones.rightUpperArm, REST.rightUpperArm) / DEG;
  assert.ok(arm(same.tracked[same.tracked.length - 1]) > 30, "the arm was raised");
  assert.ok(arm(same.idle[same.idle.length - 1]) < 2, `results stopped: the arm eased back to rest (${arm(same.idle.at(-1))}°)`);
  for (let i = 1; i < same.idle.length; i++) {
    assert.ok(angleBetween(same.idle[i].bones.rightUpperArm, same.idle[i - 1].bones.rightUpperArm) < 10 * DEG, "no jump");
  }
  assert.ok(arm(same.idle[0]) > 20, "it eases, it does not jump to rest");
  assert.ok(arm(same.resumed[same.resumed.length - 1]) > 30, "results again: the arm follows at once");
  for (const ahead of [5000, -5000]) {
    const shifted = session(ahead);
    assert.equal(shifted.all.length, same.all.length);
    shifted.all.forEach((s, i) => assert.deepEqual(s.bones, same.all[i].bones, `ingest clock ${ahead} ms off: step ${i}`));
  }
});

test("a message that brings no newer result steps nothing", () => {
  const body = new BodyTracker();
  const [a, b] = rec.results.slice(45, 47);
  body.offer(b, 1000, 1000);
  const before = body.state;
  assert.deepEqual(body.offer(a, 1010, 1010), [], "an older seq for every tracker");
  assert.equal(body.state, before);
});
