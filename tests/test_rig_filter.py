"""The Python One Euro filter and eye map (live2d_pose/rig/) against the viewer's JavaScript.

Every output (browser, VMC, VTube Studio) must move alike, so node runs
web/src/filter.js and web/src/eyes.js on the same samples and the Python port
must give the same numbers (float tolerance).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from live2d_pose.rig import eyes, filter as rig_filter
from live2d_pose.rig.filter import TUNING, FilterBank, OneEuroFilter, channel_kind

REPO = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")

JS_FILTER = """
import { RigFilter, channelKind, DEFAULT_TUNING } from "./web/src/filter.js";
import { solveEyes } from "./web/src/eyes.js";
const req = JSON.parse(await new Promise((ok) => { let s = ""; process.stdin.on("data", (d) => (s += d)); process.stdin.on("end", () => ok(s)); }));
const bank = new RigFilter({ scale: req.scale });
const filtered = req.samples.map(([t, params]) => bank.filter(params, t));
const kinds = Object.fromEntries(req.names.map((n) => [n, channelKind(n)]));
const eyes = req.eyes.map(([bs, yaw, mirror]) => solveEyes(bs, { head: { y: yaw } }, { mirror }));
process.stdout.write(JSON.stringify({ filtered, kinds, tuning: DEFAULT_TUNING, eyes }));
"""


def run_js(request: dict) -> dict:
    done = subprocess.run([NODE, "--input-type=module", "-e", JS_FILTER], input=json.dumps(request),
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _samples() -> list[tuple[float, dict[str, float]]]:
    """A head turning with noise, eyes blinking (one result long), uneven intervals, and the edge cases."""
    rng = random.Random(7)
    t = 1.7e12
    out = []
    for i in range(240):
        t += rng.choice((33.0, 33.0, 34.0, 40.0, 16.7, 66.0))
        blink = 0.0 if i % 37 == 5 else 1.0
        out.append((t, {"ParamAngleX": 25 * math.sin(i / 15) + rng.gauss(0, 0.3),
                        "ParamAngleY": rng.gauss(-8, 0.2), "ParamEyeLOpen": blink,
                        "ParamEyeROpen": blink if i % 74 != 5 else 1.0,
                        "ParamMouthOpenY": max(0.0, math.sin(i / 4)), "ParamBrowLY": rng.uniform(-1, 1),
                        "ParamEyeBallX": rng.gauss(0, 0.1), "ParamCheek": rng.random()}))
    out.append((t, {"ParamAngleX": 99.0}))  # the same instant again: replaces that sample
    out.append((t, {"ParamAngleX": 98.0, "ParamEyeLOpen": 0.5}))  # and again
    out.append((t - 10, {"ParamAngleX": -99.0}))  # a clock step back: ignored
    out.append((t + 33, {"ParamAngleX": 5.0}))
    return out


@needs_node
def test_python_filter_equals_the_javascript_filter():
    samples = _samples()
    names = ["ParamAngleX", "ParamBodyAngleY", "ParamEyeLOpen", "ParamEyeRSmile", "ParamEyeBallX",
             "ParamMouthForm", "ParamBrowRY", "ParamCheek", "FaceAngleX"]
    for scale in ({"minCutoff": 1, "beta": 1}, {"minCutoff": 0.5, "beta": 2}):
        js = run_js({"samples": samples, "scale": scale, "names": names, "eyes": []})
        bank = FilterBank(scale_min_cutoff=scale["minCutoff"], scale_beta=scale["beta"])
        for (t, params), expected in zip(samples, js["filtered"]):
            got = bank(params, t)
            assert got.keys() == expected.keys()
            for name, value in got.items():
                assert value == pytest.approx(expected[name], rel=1e-12, abs=1e-12), (t, name)
    assert js["kinds"] == {n: channel_kind(n) for n in names}
    assert {k: (v["minCutoff"], v["beta"], v["dCutoff"]) for k, v in js["tuning"].items()} == {
        k: (v.min_cutoff, v.beta, v.d_cutoff) for k, v in TUNING.items()}


@needs_node
def test_python_eyes_equal_the_javascript_eyes():
    cases = [({"eyeBlinkLeft": left, "eyeBlinkRight": right}, yaw, mirror)
             for left in (0.0, 0.2, 0.3, 0.45, 0.6) for right in (0.05, 0.35, 0.9)
             for yaw in (0.0, 0.7, -0.7) for mirror in (True, False)]
    js = run_js({"samples": [], "names": [], "eyes": cases})
    for (bs, yaw, mirror), expected in zip(cases, js["eyes"]):
        got = eyes.solve_eyes(bs, yaw, mirror)
        assert got.left == pytest.approx(expected["ParamEyeLOpen"], abs=1e-12), (bs, yaw, mirror)
        assert got.right == pytest.approx(expected["ParamEyeROpen"], abs=1e-12), (bs, yaw, mirror)


def test_a_wink_moves_only_that_eye_and_mirroring_swaps_sides():
    wink = {"eyeBlinkLeft": 0.6, "eyeBlinkRight": 0.1}  # the subject's left eye closed
    assert eyes.solve_eyes(wink, mirror=False) == eyes.Eyes(0.0, 1.0)
    assert eyes.solve_eyes(wink, mirror=True) == eyes.Eyes(1.0, 0.0)
    assert eyes.eye_openness(float("nan")) == 1.0


def test_one_result_blink_closes_after_filtering_at_15_fps():
    bank = FilterBank()
    t = 0.0
    shown = []
    for score in (0.1, 0.12, 0.1, 0.54, 0.2, 0.1):  # a real 15 fps blink: one result above 0.5
        e = eyes.solve_eyes({"eyeBlinkLeft": score, "eyeBlinkRight": score})
        shown.append(bank({"ParamEyeLOpen": e.left}, t)["ParamEyeLOpen"])
        t += 66.7
    assert min(shown) < 0.3, shown


def test_filter_bank_api():
    bank = FilterBank()
    bank({"ParamAngleX": 0.0}, 0)
    assert bank.filter("FaceAngleX", 0.0, 0, kind="angle") == 0.0
    assert bank._filters["FaceAngleX"].min_cutoff == TUNING["angle"].min_cutoff  # explicit kind for other names
    assert bank._filters["ParamAngleX"].beta == TUNING["angle"].beta
    bank.reset()
    assert bank({"ParamAngleX": 7.0}, 10)["ParamAngleX"] == 7.0, "after reset the first sample passes through"
    f = OneEuroFilter(1.0, 0.1)
    assert f(float("nan"), 0) == 0.0
    assert f(2.0, 0) == 2.0
    assert f(5.0, 0) == 5.0, "the same instant again replaces the sample (here the first: it starts over)"
    y = f(7.0, 33)
    assert f(3.0, 20) == y, "an older sample is ignored"
    direct = OneEuroFilter(1.0, 0.1)
    direct(5.0, 0)
    assert f(9.0, 33) == direct(9.0, 33), "a replaced step is as if only the new value had come"
    with pytest.raises(ValueError, match="min_cutoff > 0"):
        OneEuroFilter(0.0, 0.1)
    assert channel_kind("ParamEyeBallX") == "eyeBall" and channel_kind("whatever") == "other"


def test_a_new_kind_is_one_entry_in_the_tuning(tmp_path):
    data = json.loads(rig_filter.TUNING_PATH.read_text())
    data["kinds"]["finger"] = {"match": "^finger\\.", "minCutoff": 9.0, "beta": 0.0, "dCutoff": 1.0}
    path = tmp_path / "tuning.json"
    path.write_text(json.dumps(data))
    kinds, _, _ = rig_filter._load(path)
    assert channel_kind("finger.indexProximal", kinds) == "finger"
    assert FilterBank(kinds).kind_of("finger.thumbDistal") == "finger"
