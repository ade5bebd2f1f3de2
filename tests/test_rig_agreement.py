"""The server rig agrees with the viewer's JavaScript SOLVE on the same recordings.

docs/rig.md is the contract. node runs the viewer's solve
(web/tools/solve-dump.mjs: one unfiltered, unmirrored state per result) on
every recording in web/test/fixtures/, and live2d_pose.rig.solve runs on the
same messages. The tolerances are docs/rig.md's "Agreement": the same bone
set, each bone within 0.1 degrees; the same expressions within 1e-4; gaze
within 0.01 degrees; blendshapes and "seen" equal. So VSeeFace, VTube Studio
and the browser show the same motion.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from live2d_pose import wire
from live2d_pose.outputs.source import parse_result
from live2d_pose.rig import quat
from live2d_pose.rig.solve import solve
from live2d_pose.testing import record

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "web"
SOLVE_DUMP = WEB / "tools" / "solve-dump.mjs"
RECORDINGS = sorted((WEB / "test" / "fixtures").glob("*.msgpack"))
BONE_DEGREES = 0.1
EXPRESSION = 1e-4
GAZE_DEGREES = 0.01

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the viewer's solve"),
    pytest.mark.skipif(not SOLVE_DUMP.exists(), reason="the viewer's solve (web/tools/solve-dump.mjs) "
                                                       "is not in this tree"),
]


def js_states(recording: Path) -> list[dict]:
    out = subprocess.run(["node", str(SOLVE_DUMP.relative_to(WEB)), str(recording)], cwd=WEB,
                         capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)["states"]


def py_states(recording: Path) -> list[dict]:
    states = []
    for result in record.load(recording)["results"]:
        t = parse_result(wire.pack(result))
        states.append(solve(t.faces[0] if t.faces else None, t.poses[0] if t.poses else None, t.hands or [],
                            t.ts.get("ingest", 0.0)).to_dict())
    return states


@pytest.mark.parametrize("recording", RECORDINGS, ids=[r.name for r in RECORDINGS])
def test_python_solve_agrees_with_the_viewers(recording):
    expected, actual = js_states(recording), py_states(recording)
    assert len(expected) == len(actual) > 0
    worst = {"bone": 0.0, "expression": 0.0, "gaze": 0.0}
    bones_compared = 0
    for index, (js, py) in enumerate(zip(expected, actual)):
        where = f"{recording.name} result {index}"
        assert py["seen"] == js["seen"], where
        assert set(py["bones"]) == set(js["bones"]), (where, set(py["bones"]) ^ set(js["bones"]))
        for name, q in py["bones"].items():
            worst["bone"] = max(worst["bone"], math.degrees(quat.angle_between(q, js["bones"][name])))
            bones_compared += 1
        assert set(py["expressions"]) == set(js["expressions"]), where
        for name, value in py["expressions"].items():
            worst["expression"] = max(worst["expression"], abs(value - js["expressions"][name]))
        assert (py["gaze"] is None) == (js["gaze"] is None), where
        if py["gaze"]:
            worst["gaze"] = max(worst["gaze"], *(abs(py["gaze"][k] - js["gaze"][k]) for k in ("yaw", "pitch")))
        if js["blendshapes"] is None:
            assert py["blendshapes"] is None, where
        else:
            assert py["blendshapes"] == pytest.approx(js["blendshapes"], abs=0), where
        assert py["t"] == js["t"], where
    assert worst["bone"] <= BONE_DEGREES and worst["expression"] <= EXPRESSION and worst["gaze"] <= GAZE_DEGREES, worst
    assert bones_compared > 1000  # the recordings carry arms and fingers, not only heads
