"""The fidelity benchmark's measures and its rig plug-ins.

The measures are checked on signals whose answer is known (a pure delay, a
known lerp); the short real run is tests/system/test_fidelity_run.py.
"""

from __future__ import annotations


import numpy as np
import pytest

from live2d_pose.bench import fidelity_metrics as fm
from live2d_pose.bench.fidelity_rigs import RigSpec, display_grid, hold


def _motion(t_ms: np.ndarray) -> np.ndarray:
    s = t_ms / 1000.0
    return 10 * np.sin(2 * np.pi * 0.7 * s) + 4 * np.sin(2 * np.pi * 1.9 * s + 1) + 6 * (s > 2.2)


@pytest.mark.parametrize("delay_ms", [0.0, 18.0, 45.0])
@pytest.mark.parametrize("rate", [30.0, 60.0, 144.0])
def test_lag_estimator_finds_a_known_delay_at_any_display_rate(delay_ms, rate):
    t = np.arange(0, 5000, 1000 / 30)
    raw = _motion(t)
    delayed = _motion(t - delay_ms)  # a smoothing that is a pure delay
    grid = display_grid(t, rate)
    pair = fm.LagPair(t, raw, grid, hold(t, raw, grid), hold(t, delayed, grid))
    assert fm.lag_ms([pair]) == pytest.approx(delay_ms, abs=2.0)


def test_kalidokit_demo_rule_and_its_blink_stabiliser():
    spec = RigSpec(groups={"head": ("ParamAngleX",)}, eyes=())
    t = np.array([0.0, 100.0])
    grid = np.array([0.0, 16.7, 33.3, 100.0, 116.7, 133.3])
    out = fm.kalidokit_demo(t, {"ParamAngleX": np.array([0.0, 8.0])}, grid, spec)
    # lerp(target, current, 0.5) every display frame: half way each frame
    assert out["ParamAngleX"].tolist() == [0.0, 0.0, 0.0, 4.0, 6.0, 7.0]
    assert fm.stabilize_blink(0.1, 1.0, 0.0) == (0.1, 1.0), "a clear wink survives"
    left, right = fm.stabilize_blink(0.4, 1.0, 0.0)
    assert left == right == pytest.approx(0.43), "otherwise both follow the more closed eye"


def test_closures_and_what_keeps_them():
    t = np.arange(10) * 33.0
    scores = {
        "eyeBlinkLeft": np.array([0.1, 0.1, 0.6, 0.55, 0.1, 0.1, 0.1, 0.7, 0.1, 0.1]),
        "eyeBlinkRight": np.full(10, 0.1),
    }
    events = fm.closures(t, scores)
    assert [(e.start_ms, e.end_ms) for e in events] == [(66.0, 99.0), (231.0, 231.0)]
    eyes = {"eyeBlinkLeft": "R", "eyeBlinkRight": "L"}
    grid = np.arange(0, 400, 16.7)
    shut = {"R": np.where((grid > 60) & (grid < 110), 0.1, 1.0), "L": np.ones(len(grid))}
    assert fm.closure_kept(events[0], grid, shut, eyes, wink=True)
    assert not fm.closure_kept(events[1], grid, shut, eyes), "the second closure never showed"
    both = {**shut, "L": shut["R"]}
    assert not fm.closure_kept(events[0], grid, both, eyes, wink=True), "a wink must leave the other eye open"


def test_lag_estimator_recovers_a_pure_delay_on_the_real_recordings():
    """Calibration on the benchmark's own inputs: the real head motion, delayed by a known
    amount (interpolated between results), reads back as that delay at every display rate."""
    from live2d_pose.bench import fidelity_inputs

    recordings = fidelity_inputs.load(["single_face", "gesture"])
    for delay in (10.0, 25.0):
        for rate in (30.0, 60.0, 144.0):
            pairs = []
            for rec in recordings.values():
                messages = [r for r in rec["results"] if r.get("faces")]
                t = np.array([r["ts"]["ingest"] for r in messages])
                # the facial matrix's yaw and pitch: real head motion without the JavaScript rig
                m = np.array([np.frombuffer(r["faces"][0]["matrix"], np.float32).reshape(4, 4) for r in messages])
                for raw in (np.degrees(np.arctan2(m[:, 0, 2], m[:, 2, 2])), np.degrees(np.arcsin(-m[:, 1, 2]))):
                    grid = display_grid(t, rate)
                    delayed = np.interp(t - delay, t, raw)
                    pairs.append(fm.LagPair(t, raw, grid, hold(t, raw, grid), hold(t, delayed, grid)))
            assert fm.lag_ms(pairs) == pytest.approx(delay, abs=2.0), (delay, rate)
