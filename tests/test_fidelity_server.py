"""The outputs' server rig in the fidelity benchmark (bench/fidelity_server.py): the fidelity targets too."""

from __future__ import annotations

import json

from live2d_pose.bench import fidelity
from live2d_pose.bench.fidelity_rigs import RIGS
from live2d_pose.bench.fidelity_server import ServerRig


def test_the_server_rig_is_registered_and_keeps_every_blink(tmp_path):
    assert isinstance(RIGS["server"], ServerRig)
    code = fidelity.main(["--rigs", "server", "--inputs", "single_face_15b,still", "--out", str(tmp_path)])
    assert code == 0
    server = json.loads((tmp_path / "fidelity.json").read_text())["rigs"]["server"]
    assert {"head", "body", "eyes", "gaze", "mouth", "brows"} <= set(server["groups"])
    # the 15 fps clip's one-result blink closes the avatar's eyes, as on the page
    kept, total = server["blinks"]["ours"]["60"]["closures"]
    assert total == 2 and kept == total
    assert server["groups"]["head"]["jitter"]["ours"] < server["groups"]["head"]["jitter"]["raw"]
    met = {name: ok for name, (_, ok) in server["targets"].items()}
    assert met["every blink (> 0.5) closes the avatar's eye (< 0.3), every rate"]
    assert met["head lag the same (+-10 %) at 30, 60, 144 Hz"]
