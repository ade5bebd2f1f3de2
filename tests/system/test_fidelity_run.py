"""The fidelity benchmark's short real run: real MediaPipe results (cached in
.cache/fidelity) through the one rig (read from its motion messages) and a Python rig
registered beside it. Its measures: tests/unit/test_fidelity_bench.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from live2d_pose.bench import fidelity
from live2d_pose.bench.fidelity_rigs import RIGS, PythonRig, RigSpec, register
from live2d_pose.rig.eyes import solve_eyes


def _yaw_and_eyes(message: dict):
    """A small server-style rig: yaw from the facial matrix, eyes from eyes.py."""
    if not message.get("faces"):
        return None
    face = message["faces"][0]
    m = np.frombuffer(face["matrix"], np.float32).reshape(4, 4)
    bs = np.frombuffer(face["blendshapes"], np.float32)
    eyes = solve_eyes({"eyeBlinkLeft": float(bs[9]), "eyeBlinkRight": float(bs[10])})
    return {
        "FaceAngleX": math.degrees(math.atan2(m[0, 2], m[2, 2])),
        "EyeOpenLeft": eyes.left,
        "EyeOpenRight": eyes.right,
    }


def test_a_short_real_run_with_a_registered_python_rig(tmp_path, monkeypatch):
    spec = RigSpec(
        groups={"head": ("FaceAngleX",), "eyes": ("EyeOpenLeft", "EyeOpenRight")},
        eyes=({"eyeBlinkRight": "EyeOpenLeft", "eyeBlinkLeft": "EyeOpenRight"},),
        kinds={"FaceAngleX": "angle", "EyeOpenLeft": "eye", "EyeOpenRight": "eye"},
    )
    monkeypatch.setitem(RIGS, "server-test", PythonRig("server-test", _yaw_and_eyes, spec))
    with pytest.raises(ValueError, match="already registered"):
        register(PythonRig("server", _yaw_and_eyes, spec))
    code = fidelity.main(
        ["--rigs", "server,server-test", "--inputs", "single_face_15b,still,gesture", "--out", str(tmp_path)]
    )
    assert code == 0
    import json

    result = json.loads((tmp_path / "fidelity.json").read_text())
    assert set(result["rigs"]) == {"server", "server-test"}
    server = result["rigs"]["server"]
    assert {"head", "body", "eyes", "gaze", "mouth", "brows", "eyes (VRM)"} <= set(server["groups"])
    head = server["groups"]["head"]
    assert set(head["lag_ms"]) == {"ours", "kalidokit", "before"}
    assert 0 < head["lag_ms"]["ours"]["60"] < 60
    assert head["jitter"]["ours"] < head["jitter"]["raw"], "the filter smooths the still face"
    # the one-result blink of the 15 fps clip closes the avatar's eyes in both rigs (the one rig: Live2D and VRM)
    for rig, pairs in (("server", 2), ("server-test", 1)):
        kept, total = result["rigs"][rig]["blinks"]["ours"]["60"]["closures"]
        assert total == 2 * pairs and kept == total, (rig, kept, total)
    assert (tmp_path / "fidelity.png").stat().st_size > 10_000
    assert "| target | value | met |" in (tmp_path / "fidelity.md").read_text()
