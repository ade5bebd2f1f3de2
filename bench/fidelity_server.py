"""The server rig of the VMC / VTube Studio outputs as a plug-in of the fidelity benchmark.

`live2d_pose.rig` smooths its own way, exactly as the outputs send: the body
state through state_filter.py (the head's angles come from the smoothed
neck · head quaternion, like the page's), rig.js's face parameters through
filter.py's FilterBank, once per result at its time. So this is not a
PythonRig (which would smooth each channel by its name's kind): ``run`` drives
two Rigs over each recording, one unsmoothed (the raw channels) and one as the
outputs use it (the smoothed ones), and reports the Live2D parameters that the
VTube Studio plugin turns into its parameters. What an app shows at R Hz is
the latest value sent.

    python -m live2d_pose.bench.fidelity --rigs js,server
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from live2d_pose import wire
from live2d_pose.bench.fidelity_rigs import LIVE2D_SPEC, Rig, RigRun, _held
from live2d_pose.outputs.source import parse_result
from live2d_pose.rig import Rig as ServerRigChain
from live2d_pose.rig.live2d import live2d_params

CHANNELS = tuple(ch for chs in LIVE2D_SPEC.groups.values() for ch in chs)


class ServerRig(Rig):
    name = "server"
    about = "the VMC / VTube Studio outputs (live2d_pose/rig/): solve, state_filter, rig.js's face parameters"
    spec = LIVE2D_SPEC

    def __init__(self, mirror: bool = True):
        self.mirror = mirror

    def run(self, recordings: Mapping[str, dict], rates: list[float]) -> dict[str, RigRun]:
        return {name: self._one(rec, rates) for name, rec in recordings.items()}

    def _one(self, recording: dict, rates: list[float]) -> RigRun:
        smooth, raw = ServerRigChain(self.mirror), ServerRigChain(self.mirror, smoothing=False)
        t, raw_rows, rows = [], [], []
        for message in recording["results"]:
            ingest = message["ts"]["ingest"]
            tracking = parse_result(wire.pack(message), received_ms=ingest)
            sent, unsmoothed = smooth.solve(tracking), raw.solve(tracking)
            if not tracking.faces:  # the channels of the results that hold a face, as the other rigs
                continue
            t.append(ingest)
            rows.append(live2d_params(sent.face_params, sent.smoothed, self.mirror))
            raw_rows.append(live2d_params(unsmoothed.face_params, unsmoothed.smoothed, self.mirror))
        if not rows:
            raise RuntimeError(f"{self.name}: no result with a face")
        t_arr = np.array(t, float)
        filtered = {ch: np.array([r[ch] for r in rows], float) for ch in CHANNELS}
        unfiltered = {ch: np.array([r[ch] for r in raw_rows], float) for ch in CHANNELS}
        return RigRun(t_arr, unfiltered, filtered, _held(t_arr, filtered, rates))
