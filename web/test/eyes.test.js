import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { eyeOpenness, imageEyes, stabilizeEyes, solveEyes, EYE_TUNING } from "../src/eyes.js";
import { rigFromSolved } from "../src/rig.js";
import { RigFilter } from "../src/filter.js";
import { solveExpressions } from "../src/solve.js";
import { StateFilter } from "../src/state-filter.js";
import { BLENDSHAPE_NAMES } from "../src/protocol.js";

/** A full 52-score map (MediaPipe's names), zero but for `scores`. */
const blendshapeMap52 = (scores) => Object.fromEntries(BLENDSHAPE_NAMES.map((n) => [n, scores[n] ?? 0]));

// eyeBlinkLeft/Right of real MediaPipe runs (bench/fidelity_inputs.py writes it):
// single_face.mp4 at 30 fps (one blink over 3 results), the same clip every
// other frame (15 fps: the blink is ONE result above 0.5, both phases), and
// gesture_video.mp4 (25 fps, no blink above 0.5, partial ones).
const blinks = JSON.parse(readFileSync(new URL("./fixtures/blinks.json", import.meta.url)));
const CLOSED_SCORE = 0.5;
const SHOWN_CLOSED = 0.3;

/** The page's path for one recording: rig per result (blendshapes only), One Euro per result. */
function avatarEyes(rec, { left = rec.eyeBlinkLeft, right = rec.eyeBlinkRight } = {}) {
  const filter = new RigFilter();
  return rec.t.map((t, i) => {
    const params = rigFromSolved(null, { eyeBlinkLeft: left[i], eyeBlinkRight: right[i] });
    const f = filter.filter(params, t);
    return { t, l: f.ParamEyeLOpen, r: f.ParamEyeROpen };
  });
}

/** Runs of results above 0.5 for one eye: [[first, last], ...] indices. */
function closures(scores) {
  const runs = [];
  scores.forEach((s, i) => {
    if (s <= CLOSED_SCORE) return;
    if (runs.length && runs[runs.length - 1][1] === i - 1) runs[runs.length - 1][1] = i;
    else runs.push([i, i]);
  });
  return runs;
}

test("the map: idle scores are fully open, a closed eye's score fully closed", () => {
  assert.equal(eyeOpenness(0.05), 1);
  assert.equal(eyeOpenness(EYE_TUNING.openBelow), 1);
  assert.equal(eyeOpenness(EYE_TUNING.closedAbove), 0);
  assert.equal(eyeOpenness(0.9), 0);
  const mid = eyeOpenness((EYE_TUNING.openBelow + EYE_TUNING.closedAbove) / 2);
  assert.ok(Math.abs(mid - 0.5) < 1e-9);
  assert.equal(eyeOpenness(NaN), 1);
  // real idle levels stay open: the woman in gesture_video.mp4 idles at up to 0.25
  for (const s of blinks.gesture.eyeBlinkLeft.slice(0, 60)) assert.ok(eyeOpenness(s) > 0.9, `idle ${s}`);
});

test("every real blink above 0.5 closes the avatar's eyes below 0.3, even one lasting a single result (15 fps)", () => {
  let seen = 0;
  for (const name of ["single_face", "single_face_15a", "single_face_15b"]) {
    const rec = blinks[name];
    const shown = avatarEyes(rec);
    for (const [eye, channel] of [["eyeBlinkRight", "l"], ["eyeBlinkLeft", "r"]]) {
      for (const [first, last] of closures(rec[eye])) {
        seen += 1;
        const lowest = Math.min(...shown.slice(first, last + 1).map((s) => s[channel]));
        assert.ok(lowest < SHOWN_CLOSED, `${name} ${eye} results ${first}-${last}: avatar eye only reached ${lowest.toFixed(2)}`);
      }
    }
  }
  // one blink in each recording, above 0.5 on both eyes except the right eye at 15 fps, phase a (0.44)
  assert.equal(seen, 5, "the fixture's closures");
  const oneResult = closures(blinks.single_face_15b.eyeBlinkLeft);
  assert.deepEqual(oneResult.map(([a, b]) => b - a), [0], "15 fps: the blink is a single result");
});

test("a wink (a real blink on one eye only) closes that eye and leaves the other open", () => {
  for (const name of ["single_face", "single_face_15b"]) {
    const rec = blinks[name];
    const open = rec.t.map(() => 0.12); // the other eye at a real idle score
    for (const [closing, shown, other] of [["left", "r", "l"], ["right", "l", "r"]]) {
      const eyes = closing === "left" ? avatarEyes(rec, { right: open }) : avatarEyes(rec, { left: open });
      const scores = closing === "left" ? rec.eyeBlinkLeft : rec.eyeBlinkRight;
      const [[first, last]] = closures(scores);
      const during = eyes.slice(first, last + 3);
      assert.ok(Math.min(...during.map((e) => e[shown])) < SHOWN_CLOSED, `${name}: the winking eye closes`);
      assert.ok(Math.min(...eyes.map((e) => e[other])) >= 0.9, `${name}: the other eye stays open`);
    }
  }
});

test("each eye follows its own blendshape: a half-closed eye next to an open one is kept", () => {
  const eyes = imageEyes({ eyeBlinkLeft: 0.1, eyeBlinkRight: 0.375 }, null);
  assert.equal(eyes.right, 1); // image right = subject's left
  assert.ok(Math.abs(eyes.left - 0.5) < 1e-9);
  assert.deepEqual(stabilizeEyes(eyes, 0.1), eyes, "facing the camera: untouched");
});

test("head turned far: the far (hidden) eye copies the near one", () => {
  const eyes = { left: 0.2, right: 0.9 };
  // nose toward the image's right (KalidoKit head.y < 0): the image-right eye is the far one
  assert.deepEqual(stabilizeEyes(eyes, -(EYE_TUNING.turnedYawRad + 0.1)), { left: 0.2, right: 0.2 });
  assert.deepEqual(stabilizeEyes(eyes, EYE_TUNING.turnedYawRad + 0.1), { left: 0.9, right: 0.9 });
});

test("mirror: the subject's right eye is the avatar's left eye (on the screen's right) when mirrored", () => {
  const bs = { eyeBlinkRight: 0.9, eyeBlinkLeft: 0.05 };
  assert.deepEqual(solveEyes(bs, null), { ParamEyeLOpen: 0, ParamEyeROpen: 1 });
  assert.deepEqual(solveEyes(bs, null, { mirror: false }), { ParamEyeLOpen: 1, ParamEyeROpen: 0 });
  // without blendshapes KalidoKit's geometry (image sides) is used
  assert.deepEqual(solveEyes(null, { eye: { l: 0.3, r: 0.8 }, head: { y: 0 } }), { ParamEyeLOpen: 0.3, ParamEyeROpen: 0.8 });
});

test("VRM eyes: the body state's blinks (solve.js + state-filter.js) keep every real blink and wink too", () => {
  for (const name of ["single_face", "single_face_15a", "single_face_15b"]) {
    const rec = blinks[name];
    for (const wink of [null, "left"]) {
      const filter = new StateFilter();
      const right = wink ? rec.t.map(() => 0.12) : rec.eyeBlinkRight;
      const shown = rec.t.map((t, i) => {
        const { expressions } = solveExpressions(blendshapeMap52({ eyeBlinkLeft: rec.eyeBlinkLeft[i], eyeBlinkRight: right[i] }));
        return filter.filter({ bones: {}, expressions, gaze: null, blendshapes: null, seen: { face: true } }, t).expressions;
      });
      for (const [eye, key] of [["eyeBlinkLeft", "blinkLeft"], ["eyeBlinkRight", "blinkRight"]]) {
        const scores = eye === "eyeBlinkLeft" ? rec.eyeBlinkLeft : right;
        for (const [first, last] of closures(scores)) {
          const most = Math.max(...shown.slice(first, last + 1).map((e) => e[key]));
          assert.ok(most > 1 - SHOWN_CLOSED, `${name} ${key} results ${first}-${last}: VRM blink only reached ${most.toFixed(2)}`);
        }
      }
      if (wink) assert.ok(Math.max(...shown.map((e) => e.blinkRight)) <= 0.1, `${name}: the other VRM eye stays open`);
    }
  }
});
