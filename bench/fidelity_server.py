"""The one rig (live2d_pose/rig/) as a plug-in of the fidelity benchmark, on the path users see.

Each recording goes through a Rig exactly as the gateway feeds it (each
result at its time), and each update through the motion message the gateway
sends (mirrored, the page's default: motion.MotionEncoder) and back through a
reader (motion.MotionState, the Python twin of what the page and the outputs
hold). The channels are what every avatar gets from that motion: the Live2D
parameters (the page's Live2D and built-in avatars, VTube Studio) and the VRM
eyes (1 - the blinks). What an app shows at R Hz is the latest motion it got.
The unfiltered reference is the same chain with smoothing off.

    python -m live2d_pose.bench.fidelity --rigs server
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from unittest import mock

import numpy as np

from live2d_pose import wire
from live2d_pose.bench.fidelity_rigs import PAGE_SPEC, Rig, RigRun, _held
from live2d_pose.rig import Rig as OneRig
from live2d_pose.rig import state_filter
from live2d_pose.rig.filter import TUNING, Tuning
from live2d_pose.rig.motion import Motion, MotionEncoder, MotionState
from live2d_pose.rig.results import parse_result

CHANNELS = tuple(ch for chs in PAGE_SPEC.groups.values() for ch in chs)


def channels(motion: Motion) -> dict[str, float]:
    return {
        **motion.live2d,
        "VRM.eyeOpenLeft": 1 - motion.expressions["blinkLeft"],
        "VRM.eyeOpenRight": 1 - motion.expressions["blinkRight"],
    }


@contextlib.contextmanager
def tuned(tuning: Mapping[str, Tuning]):
    """The rig smoothing with ``tuning`` instead of tuning.json's (the body state's filter reads the
    module's table when it makes a channel's filter)."""
    with mock.patch.object(state_filter, "TUNING", tuning):
        yield


class ServerRig(Rig):
    name = "server"
    about = "the one rig (live2d_pose/rig/, run by the gateway), read from its motion messages"
    spec = PAGE_SPEC

    def __init__(self, mirror: bool = True):
        self.mirror = mirror

    def run(self, recordings: Mapping[str, dict], rates: list[float]) -> dict[str, RigRun]:
        return {name: self._one(rec, rates) for name, rec in recordings.items()}

    def _one(self, recording: dict, rates: list[float], tuning: Mapping[str, Tuning] = TUNING) -> RigRun:
        t, raw = self._channels(recording, OneRig(smoothing=False))
        _, rows = self._channels(recording, OneRig(tuning=tuning))
        t_arr = np.array(t, float)
        filtered = {ch: np.array([r[ch] for r in rows], float) for ch in CHANNELS}
        unfiltered = {ch: np.array([r[ch] for r in raw], float) for ch in CHANNELS}
        return RigRun(t_arr, unfiltered, filtered, _held(t_arr, filtered, rates))

    def _channels(self, recording: dict, rig: OneRig) -> tuple[list[float], list[dict]]:
        """Per result that holds a face (the channels the other rigs report): its time and what a
        reader of the motion holds after it."""
        encoder, reader = MotionEncoder(), MotionState()
        times, rows = [], []
        for message in recording["results"]:
            ingest = message["ts"]["ingest"]
            tracking = parse_result(wire.pack(message), received_ms=ingest)
            if rig.offer(tracking):
                motion = reader.apply(encoder.update(Motion.of(rig, self.mirror)).delta)
            if tracking.faces:
                times.append(ingest)
                rows.append(channels(motion))
        if not rows:
            raise RuntimeError(f"{self.name}: no result with a face")
        return times, rows

    def with_tunings(self, recordings, kind, settings, channels):
        out = []
        for min_cutoff, beta, d_cutoff in settings:
            tuning = dict(TUNING)
            tuning[kind] = Tuning(min_cutoff, beta, d_cutoff, TUNING[kind].match if kind in TUNING else "")
            with tuned(tuning):
                runs = {name: self._one(rec, [], tuning) for name, rec in recordings.items()}
            out.append({name: {ch: run.filtered[ch] for ch in channels} for name, run in runs.items()})
        return out
