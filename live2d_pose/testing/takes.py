"""Takes to record in tests and benchmarks: body states over time.

- ``recorded_take``: real motion. A recording of real MediaPipe results
  (web/test/fixtures/*.msgpack: gesture_video.mp4 through the Face, Pose and
  Hand Landmarkers) through the server's rig, one state per result, at the
  results' own times: the smoothed state (every channel, as the outputs see
  it) or the raw solve (only what was seen).
- ``full_body_take``: a synthetic state the rig cannot make yet: legs,
  feet and toes swinging, the hips moving in the room (a squat and a sway
  about the rest position, docs/rig.md) and turning, both hands' fingers
  curling, a face, all at an uneven rate.
"""

from __future__ import annotations

import math
from pathlib import Path

from live2d_pose import wire
from live2d_pose.recording.skeleton import ROOM_HIPS_HEIGHT
from live2d_pose.rig import Rig
from live2d_pose.rig.quat import axis_angle, multiply
from live2d_pose.rig.results import parse_result
from live2d_pose.rig.solve import BLENDSHAPE_NAMES, EXPRESSIONS
from live2d_pose.testing import record

FIXTURES = Path(__file__).resolve().parents[2] / "web" / "test" / "fixtures"
GESTURE = FIXTURES / "gesture.msgpack"


def recorded_take(path: str | Path = GESTURE, smoothed: bool = True) -> list[tuple[float, object]]:
    """(ts.ingest in ms, BodyState) after every result of a recording, through ``live2d_pose.rig.Rig``."""
    rig = Rig(smoothing=smoothed)
    take = []
    for message in record.load(path)["results"]:
        t = float(message["ts"]["ingest"])
        rig.offer(parse_result(wire.pack(message), received_ms=t))
        take.append((t, rig.smoothed if smoothed else rig.state))
    return take


LEGS = ("UpperLeg", "LowerLeg", "Foot", "Toes")


def full_body_state(t_ms: float) -> dict:
    """docs/rig.md's state (as a dict) at ``t_ms`` of a synthetic dance, with legs and the hips'
    position (``hipsPosition``, metres in the room: standing, it is (0, 0.80, 0))."""
    s = t_ms / 1000.0
    w = 2 * math.pi * 0.5  # one cycle per 2 s
    bones = {
        "hips": axis_angle((0.0, 1.0, 0.0), 0.6 * math.sin(w * s)),
        "spine": axis_angle((1.0, 0.0, 0.0), 0.2 * math.sin(w * s + 1)),
        "chest": axis_angle((0.0, 0.0, 1.0), 0.15 * math.sin(w * s + 2)),
        "neck": axis_angle((0.0, 1.0, 0.0), 0.3 * math.sin(w * s)),
        "head": axis_angle((1.0, 0.0, 0.0), 0.25 * math.sin(2 * w * s)),
    }
    for side, sign in (("left", 1.0), ("right", -1.0)):
        phase = 0.0 if side == "left" else math.pi
        swing = 0.7 * math.sin(w * s + phase)
        bones[f"{side}UpperLeg"] = multiply(
            axis_angle((1.0, 0.0, 0.0), -swing), axis_angle((0.0, 0.0, 1.0), sign * 0.1)
        )
        bones[f"{side}LowerLeg"] = axis_angle((1.0, 0.0, 0.0), 0.9 * (1 + math.sin(w * s + phase)) / 2)
        bones[f"{side}Foot"] = axis_angle((1.0, 0.0, 0.0), -0.3 * math.sin(w * s + phase))
        bones[f"{side}Toes"] = axis_angle((1.0, 0.0, 0.0), 0.2 * max(0.0, math.sin(w * s + phase)))
        bones[f"{side}UpperArm"] = multiply(
            axis_angle((0.0, 0.0, -sign), 1.2 + 0.4 * math.sin(w * s)),
            axis_angle((0.0, 1.0, 0.0), 0.5 * math.sin(w * s + phase)),
        )
        bones[f"{side}LowerArm"] = axis_angle((0.0, -sign, 0.0), 1.0 + 0.5 * math.sin(2 * w * s))
        bones[f"{side}Hand"] = axis_angle((1.0, 0.0, 0.0), 0.4 * math.sin(3 * w * s))
        curl = 0.8 * (1 + math.sin(w * s + phase)) / 2
        for finger in ("Index", "Middle", "Ring", "Little"):
            for joint in ("Proximal", "Intermediate", "Distal"):
                bones[f"{side}{finger}{joint}"] = axis_angle((0.0, 0.0, -sign), curl)
        for joint in ("ThumbMetacarpal", "ThumbProximal", "ThumbDistal"):
            bones[f"{side}{joint}"] = axis_angle((sign / math.sqrt(2), 0.0, -1 / math.sqrt(2)), curl / 2)
    blendshapes = {name: (0.5 + 0.5 * math.sin(w * s + i)) for i, name in enumerate(BLENDSHAPE_NAMES)}
    expressions = {name: (0.5 + 0.5 * math.sin(w * s + 0.5 * i)) for i, name in enumerate(EXPRESSIONS)}
    return {
        "version": 2,
        "t": t_ms,
        "times": {"face": t_ms, "pose": t_ms, "hands": t_ms},
        "seen": {"face": True, "pose": True, "leftHand": True, "rightHand": True},
        "bones": bones,
        "expressions": expressions,
        "blendshapes": blendshapes,
        "gaze": {"yaw": 15 * math.sin(w * s), "pitch": 10 * math.cos(w * s)},
        "hipsPosition": (
            0.1 * math.sin(w * s),
            ROOM_HIPS_HEIGHT - 0.15 * (1 - math.cos(2 * w * s)) / 2,
            0.05 * math.sin(w * s),
        ),
    }


def full_body_take(seconds: float = 4.0, start_ms: float = 1.7e12) -> list[tuple[float, dict]]:
    """About 25 states a second, unevenly spaced (33 and 47 ms in turn), from ``start_ms`` (an epoch time)."""
    take, t, k = [], start_ms, 0
    while t <= start_ms + seconds * 1000.0:
        take.append((t, full_body_state(t - start_ms)))
        t += 33.0 if k % 2 else 47.0
        k += 1
    return take
