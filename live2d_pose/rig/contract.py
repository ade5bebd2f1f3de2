"""The names and rest values the rig and every reader of its motion messages share (contract.json).

The viewer page imports contract.json at build time (web/src/contract.js), so
a constant here is never copied by hand into JavaScript.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

from live2d_pose.rig.quat import DEG, axis_angle

CONTRACT_PATH = Path(__file__).with_name("contract.json")
CONTRACT = json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))

MOTION_VERSION: int = CONTRACT["motionVersion"]
TRACKER_STALE_MS: float = float(CONTRACT["trackerStaleMs"])  # a tracker's result older than this is not seen
# VRM 1.0's humanoid bones in the specification's order: a motion message keys a rotation by its
# index here, written as a decimal string ("18": leftUpperArm), so any msgpack reader takes the map
BONE_NAMES: tuple[str, ...] = tuple(CONTRACT["bones"])
BONE_KEYS = MappingProxyType({name: str(i) for i, name in enumerate(BONE_NAMES)})
EXPRESSIONS: tuple[str, ...] = tuple(CONTRACT["expressions"])  # VRM 1.0 presets the state drives
BLENDSHAPE_NAMES: tuple[str, ...] = tuple(CONTRACT["blendshapes"])  # MediaPipe's order (ARKit names)
LIVE2D_IDS: tuple[str, ...] = tuple(CONTRACT["live2d"])  # the Live2D parameters a motion carries, in order
LIVE2D_RANGES = MappingProxyType({name: tuple(p["range"]) for name, p in CONTRACT["live2d"].items()})
LIVE2D_NEUTRAL = MappingProxyType({name: float(p["neutral"]) for name, p in CONTRACT["live2d"].items()})
# Rest rotations of the bones whose rest is not identity (docs/rig.md "Rest values"): the arms hang down.
REST = MappingProxyType({bone: axis_angle(tuple(r["axis"]), r["degrees"] * DEG)
                         for bone, r in CONTRACT["rest"].items()})
# The parts of the body the rig follows or rests as a whole (docs/rig.md "Confidence"), in the order of the
# motion's parts array (each part's weight, 0..1)
PART_NAMES: tuple[str, ...] = tuple(CONTRACT["parts"])
# Where the hips stand at rest (metres in the room): MediaPipe's average adult, standing. A retarget scales
# the motion's hips position by its model's hips height over this height.
REST_HIPS_POSITION: tuple[float, float, float] = tuple(float(v) for v in CONTRACT["restHipsPosition"])
