"""The rig's One Euro filter and eye map (live2d_pose/rig/filter.py, eyes.py): the API, and the
eyelids on real blink scores.

What the avatar finally shows on recordings (lag, jitter, blinks kept at
every display rate) is the fidelity benchmark's (bench/fidelity.py).
"""

from __future__ import annotations

import json
import math
import random

import pytest

from live2d_pose.rig import eyes, filter as rig_filter
from live2d_pose.rig.filter import TUNING, FilterBank, OneEuroFilter, channel_kind


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


DT = 1000 / 30  # 30 samples/s


def test_a_still_input_stays_exactly_still_and_a_step_is_followed_without_overshoot():
    f = OneEuroFilter(1.0, 0.05)
    assert all(f(12.5, i * DT) == 12.5 for i in range(100))
    f = OneEuroFilter(1.2, 0.03)
    for i in range(30):
        f(0.0, i * DT)
    out = [f(20.0, i * DT) for i in range(30, 60)]
    assert 0 < out[0] < 20 and out[4] > 10 and abs(out[29] - 20) < 0.4, out
    assert all(b >= a - 1e-9 for a, b in zip(out, out[1:])), "no overshoot / ringing"


def test_beta_makes_a_fast_move_lag_less_and_jitter_is_reduced():
    slow, fast = OneEuroFilter(1.0, 0.0), OneEuroFilter(1.0, 0.1)
    for i in range(20):
        a, b = slow(i * 3.0, i * DT), fast(i * 3.0, i * DT)  # a 90 degrees/s ramp
    assert 57 - b < (57 - a) / 2, (a, b)
    f = OneEuroFilter(1.0, 0.01)
    rng = random.Random(1)
    raw_var = out_var = 0.0
    for i in range(300):
        raw = 5 + rng.uniform(-1, 1)
        out = f(raw, i * DT)
        if i > 30:
            raw_var, out_var = raw_var + (raw - 5) ** 2, out_var + (out - 5) ** 2
    assert out_var < raw_var / 4, (out_var, raw_var)


def _casiez_reference(samples, min_cutoff, beta, d_cutoff):
    """Casiez's reference implementation (the 1 Euro filter's Python reference, OneEuroFilter.__call__):
    the speed is (x - previous RAW x) * rate, filtered at dcutoff; the cutoff is mincutoff + beta |speed|."""

    def alpha(cutoff, rate):
        return 1 / (1 + (1 / (2 * math.pi * cutoff)) * rate)

    out, prev_raw, x, dx, last = [], None, None, 0.0, None
    for value, t in samples:
        if x is None:
            x = prev_raw = value
        else:
            rate = 1000 / (t - last)
            dx += alpha(d_cutoff, rate) * ((value - prev_raw) * rate - dx)
            prev_raw = value
            x += alpha(min_cutoff + beta * abs(dx), rate) * (value - x)
        last = t
        out.append(x)
    return out


def test_the_speed_comes_from_the_previous_raw_sample_as_in_casiezs_reference():
    samples, t = [], 0.0
    for i in range(80):  # a head turn and back, sampled unevenly (25-35 ms), with a little noise
        t += 25 + (i * 7) % 11
        samples.append((20 * math.sin(i / 9) + ((i * 13) % 5) * 0.1, t))
    f = OneEuroFilter(1.5, 0.4, 2.0)
    for (value, t), want in zip(samples, _casiez_reference(samples, 1.5, 0.4, 2.0)):
        assert f(value, t) == pytest.approx(want, abs=1e-9)


def test_result_clock_keeps_the_results_spacing_and_re_anchors_after_a_pause():
    clock = rig_filter.ResultClock()
    server0 = 1.7e12
    arrivals = [1000, 1045, 1061, 1130, 1135, 1199]  # jittery arrivals of frames 33 ms apart
    local = [clock.to_local(server0 + i * 33, now) for i, now in enumerate(arrivals)]
    assert all(t <= now + 1e-9 for t, now in zip(local, arrivals)), "never after its arrival"
    assert all(abs(b - a - 33) < 1e-9 for a, b in zip(local[3:], local[4:])), "spacing kept"
    clock.reset()
    assert clock.to_local(server0 + 999, 5000) == 5000, "re-anchored on the next arrival"
    assert clock.to_local(None, 6000) == 6000, "no timestamp: the arrival time"
