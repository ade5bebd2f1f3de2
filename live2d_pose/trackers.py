"""The tracker table: what a camera can ask to be tracked (``track=face,pose,hands``).

One row per tracker in trackers.json, read by every part that names trackers: the wire
format (a result's key and the item it holds), the landmarker's settings (model file,
checksum, the most found per frame), the rig, the result recorder, and the viewer page,
which imports the same JSON. The standalone camera client keeps a copy of the names
(tests/unit/test_trackers_table.py pins it). Adding a tracker means a row in
trackers.json, its item type here, its MediaPipe implementation in
services/landmarker/trackers.py (docs/architecture.md). The classes that hold a result
(wire.Result, the rig's Tracking) keep each tracker's list under its key (``TrackerLists``);
the rig reads by name the trackers it uses.

A result that names no trackers reports ``UNTAGGED`` (face-only senders of before).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

TABLE = json.loads((Path(__file__).with_name("trackers.json")).read_text())
HANDEDNESS = ("Left", "Right")  # MediaPipe's label (it assumes a mirrored, selfie image)


class WireError(ValueError):
    """A message, or a tracker's item in it, that does not have the shape the protocol requires.

    Defined here, below wire.py, since the items are checked here too; wire.WireError is this."""


def _floats(obj: dict, key: str, shape: tuple[int, ...], what: str) -> np.ndarray:
    count = int(np.prod(shape))
    data = obj.get(key)
    if not isinstance(data, (bytes, bytearray)) or len(data) != count * 4:
        raise WireError(f"{what}: {key!r} must be {count} float32 values")
    return np.frombuffer(data, dtype="<f4").reshape(shape)


def _f32(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype="<f4").tobytes()


def _arrays(name: str) -> dict[str, tuple[int, ...]]:
    row = next(r for r in TABLE["trackers"] if r["name"] == name)
    return {key: tuple(shape) for key, shape in row["arrays"].items()}


def _read(obj: Any, name: str, what: str) -> dict[str, np.ndarray]:
    """The row's float32 arrays of one item, each checked for its length."""
    if not isinstance(obj, dict):
        raise WireError(f"{what}: expected a map")
    return {key: _floats(obj, key, shape, what) for key, shape in _arrays(name).items()}


# ---------------------------------------------------------------- the items, one type per tracker


@dataclass
class Face:
    landmarks: np.ndarray  # float32 (478, 3), x and y normalised to the image, z relative
    blendshapes: np.ndarray  # float32 (52,), ARKit names in MediaPipe order
    matrix: np.ndarray  # float32 (16,), row-major 4x4 facial transformation matrix

    def to_wire(self) -> dict:
        return {"landmarks": _f32(self.landmarks), "blendshapes": _f32(self.blendshapes), "matrix": _f32(self.matrix)}

    @classmethod
    def from_wire(cls, obj: Any) -> Face:
        return cls(**_read(obj, "face", "face"))


@dataclass
class Pose:
    landmarks: np.ndarray  # float32 (33, 5): x, y normalised, z relative, visibility, presence
    world: np.ndarray  # float32 (33, 3): metres, origin between the hips

    def to_wire(self) -> dict:
        return {"landmarks": _f32(self.landmarks), "world": _f32(self.world)}

    @classmethod
    def from_wire(cls, obj: Any) -> Pose:
        return cls(**_read(obj, "pose", "pose"))


@dataclass
class Hand:
    handedness: str  # "Left" or "Right", MediaPipe's label
    score: float
    landmarks: np.ndarray  # float32 (21, 3), x and y normalised to the image, z relative
    world: np.ndarray  # float32 (21, 3), metres, origin at the hand's centre

    def to_wire(self) -> dict:
        return {
            "handedness": self.handedness,
            "score": float(self.score),
            "landmarks": _f32(self.landmarks),
            "world": _f32(self.world),
        }

    @classmethod
    def from_wire(cls, obj: Any) -> Hand:
        arrays = _read(obj, "hands", "hand")
        handedness, score = obj.get("handedness"), obj.get("score")
        if handedness not in HANDEDNESS:
            raise WireError("hand: 'handedness' must be 'Left' or 'Right'")
        if not isinstance(score, (int, float)) or isinstance(score, bool):
            raise WireError("hand: 'score' must be a number")
        return cls(handedness=handedness, score=float(score), **arrays)


ITEM_TYPES: dict[str, type[Face] | type[Pose] | type[Hand]] = {"face": Face, "pose": Pose, "hands": Hand}


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Tracker:
    """One row of trackers.json, with its item type."""

    name: str  # in track= and in results' "tracks"
    key: str  # the result's key holding its list of items (faces, poses, hands)
    item: type[Face] | type[Pose] | type[Hand]  # what each entry of that list is; .from_wire checks one
    arrays: dict[str, tuple[int, ...]]  # the item's float32 arrays and their shapes
    model_file: str  # the bundled MediaPipe model (services/landmarker/)
    model_sha256: str
    model_setting: str  # the landmarker's setting with the model path; "<it>_sha256" the checksum
    limit_setting: str  # the setting with the most items found per frame
    limit_default: int
    limit_help: str

    def check(self, items: Any) -> list[dict]:
        """The result's list for this tracker as it came, once each item is checked."""
        self.parse(items)
        return items

    def parse(self, items: Any) -> list:
        """The result's list for this tracker, each item checked (WireError says why not)."""
        if not isinstance(items, list):
            raise WireError(f"result: {self.key!r} must be a list")
        return [self.item.from_wire(item) for item in items]


def _row(row: dict) -> Tracker:
    return Tracker(
        name=row["name"],
        key=row["key"],
        item=ITEM_TYPES[row["name"]],
        arrays={key: tuple(shape) for key, shape in row["arrays"].items()},
        model_file=row["model"]["file"],
        model_sha256=row["model"]["sha256"],
        model_setting=row["model"]["setting"],
        limit_setting=row["limit"]["setting"],
        limit_default=row["limit"]["default"],
        limit_help=row["limit"]["help"],
    )


TRACKERS: dict[str, Tracker] = {row["name"]: _row(row) for row in TABLE["trackers"]}
UNTAGGED: tuple[str, ...] = tuple(TABLE["untagged"])  # what a result without "tracks" reports
KEYS: frozenset[str] = frozenset(tracker.key for tracker in TRACKERS.values())  # faces, poses, hands
assert ITEM_TYPES.keys() == TRACKERS.keys(), "every row of trackers.json needs its item type here"


class TrackerLists:
    """What a result holder (wire.Result, the rig's Tracking) shares: each tracker's list kept in
    ``found`` under the table's result key, and read as an attribute of that name
    (``result.faces``, ``tracking.hands``), so a new row needs no new field. A list is written
    through ``found`` (``result.found["faces"] = [...]``); the holders are slotted dataclasses,
    so ``result.faces = [...]`` fails instead of hiding the list from ``found``."""

    __slots__ = ()
    found: dict[str, list]

    def unreported(self) -> list | None:
        """What a tracker absent from ``found`` reads as."""
        return None

    def __getattr__(self, name: str) -> Any:  # Python calls it only for a name that is no attribute
        if name in KEYS:
            return self.found.get(name, self.unreported())
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def parse_tracks(text: str) -> tuple[str, ...]:
    """``"face,pose"`` -> ("face", "pose") in the table's order; ValueError names a bad one."""
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(names - TRACKERS.keys())
    if unknown:
        raise ValueError(f"unknown tracker {unknown[0][:32]!r}; known: {', '.join(TRACKERS)}")
    if not names:
        raise ValueError(f"no tracker named; known: {', '.join(TRACKERS)}")
    return tuple(name for name in TRACKERS if name in names)
