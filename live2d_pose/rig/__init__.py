"""The server-side rig: tracking results -> one avatar state that every output reads.

    rig = Rig(mirror=True)
    frame = rig.solve(tracking)          # tracking: outputs.source.Tracking (one gateway result)
    frame.face.params["ParamAngleX"]      # Live2D parameters (the VTube Studio plugin's input)
    frame.face.presets["Blink_L"]         # VRM 0.x presets (the VMC protocol's Blend/Val)
    frame.bones["LeftUpperArm"]           # Unity local rotations (the VMC protocol's Bone/Pos)

face.py mirrors web/src/rig.js (the viewer's solve) so the page, VSeeFace and
VTube Studio show the same motion; tests/test_rig_agreement.py holds them to a
stated tolerance on the same recorded results. body.py solves the body and the
fingers. docs/outputs.md explains the spaces and the mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from live2d_pose.rig.body import BodySolver
from live2d_pose.rig.face import FaceRig, solve_face


@dataclass
class RigFrame:
    """The avatar state for one result. Only what was seen is here."""

    stream: str
    seq: int
    ts: dict[str, float]  # the result's stage timestamps (ms), from the gateway
    face: FaceRig | None = None
    bones: dict[str, np.ndarray] = field(default_factory=dict)  # Unity HumanBodyBones -> (x, y, z, w)
    tracks: tuple[str, ...] = ()  # the trackers this result reported

    @property
    def tracking(self) -> bool:
        """Anything of the person was seen."""
        return self.face is not None or bool(self.bones)


class Rig:
    """Solves each result; holds the settings (mirror) and, later, per-channel smoothing."""

    def __init__(self, mirror: bool = True):
        self.mirror = mirror
        self.body = BodySolver(mirror)

    def solve(self, tracking) -> RigFrame:
        face = solve_face(tracking.faces[0], self.mirror) if tracking.faces else None
        pose = tracking.poses[0] if tracking.poses else None
        bones = self.body.solve(pose, tracking.hands, face.head if face else None)
        return RigFrame(stream=tracking.stream, seq=tracking.seq, ts=tracking.ts, face=face, bones=bones,
                        tracks=tracking.tracks)
