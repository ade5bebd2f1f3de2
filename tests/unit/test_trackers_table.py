"""The tracker table (live2d_pose/trackers.json) and everything that reads it: the item types,
the landmarker's and up's settings, the camera client's standalone copies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from live2d_pose import camera, trackers, wire
from live2d_pose.config import UpConfig
from live2d_pose.landmarker.settings import MODELS_DIR, LandmarkerConfig
from live2d_pose.rig.results import Tracking, parse_result
from live2d_pose.trackers import KEYS, TABLE, TRACKERS, UNTAGGED, WireError


def test_the_camera_clients_copies_are_the_tables():
    assert camera.TRACKERS == tuple(TRACKERS)
    assert camera.UNTAGGED == UNTAGGED


@pytest.mark.parametrize("name", list(TRACKERS))
def test_each_rows_item_type_reads_back_what_it_wrote_and_refuses_a_short_array(name):
    tracker = TRACKERS[name]
    arrays = {key: np.arange(np.prod(shape), dtype=np.float32).reshape(shape) for key, shape in tracker.arrays.items()}
    extra = {"handedness": "Left", "score": 0.9} if name == "hands" else {}
    wired = tracker.item(**extra, **arrays).to_wire()
    [item] = tracker.parse([wired])
    for key, array in arrays.items():
        np.testing.assert_array_equal(getattr(item, key), array)
    short = {**wired, next(iter(arrays)): b"\0" * 4}
    with pytest.raises(WireError):
        tracker.parse([short])


def test_the_landmarker_and_up_have_each_trackers_settings_with_the_tables_defaults():
    landmarker = {f.name: f.default for f in dataclasses.fields(LandmarkerConfig)}
    up = {f.name: f.default for f in dataclasses.fields(UpConfig)}
    for tracker in TRACKERS.values():
        assert landmarker[tracker.model_setting] == str(MODELS_DIR / tracker.model_file)
        assert (MODELS_DIR / tracker.model_file).is_file()
        assert landmarker[tracker.model_setting + "_sha256"] == ""
        assert landmarker[tracker.limit_setting] == up[tracker.limit_setting] == tracker.limit_default


def test_a_result_without_tracks_reports_the_untagged_trackers():
    message = wire.Result("cam", 1, 4, 4, {"ingest": 1.0}).to_wire()
    del message["tracks"]
    assert wire.Result.decode(wire.pack(message)).tracks == UNTAGGED == tuple(TABLE["untagged"])


def test_a_result_and_the_rigs_tracking_keep_each_trackers_list_under_its_key():
    """No field per tracker: a new row needs none (docs/architecture.md, "a tracker")."""
    for holder in (wire.Result, Tracking):
        assert not KEYS & {f.name for f in dataclasses.fields(holder)}, holder.__name__
    face_only = wire.Result("cam", 1, 4, 4, {"ingest": 1.0}, {"faces": []})
    assert face_only.faces == [] and face_only.hands == [], "a result sends an unfilled list empty"
    tracking = parse_result(face_only.encode())
    assert tracking.faces == [] and tracking.hands is None, "the rig tells a tracker not reported"
    with pytest.raises(AttributeError):
        face_only.faces = []  # the lists are written through .found, where to_wire reads them
    with pytest.raises(AttributeError):
        face_only.no_such_list  # noqa: B018


@dataclasses.dataclass
class Iris:
    landmarks: np.ndarray

    def to_wire(self) -> dict:
        return {"landmarks": self.landmarks.astype("<f4").tobytes()}

    @classmethod
    def from_wire(cls, obj: dict) -> Iris:
        return cls(np.frombuffer(obj["landmarks"], "<f4").reshape(10, 3))


def test_a_new_row_and_its_item_type_travel_through_a_result_to_the_rig(monkeypatch):
    iris = dataclasses.replace(TRACKERS["face"], name="iris", key="irises", item=Iris, arrays={"landmarks": (10, 3)})
    monkeypatch.setitem(TRACKERS, "iris", iris)
    monkeypatch.setattr(trackers, "KEYS", KEYS | {"irises"})
    points = np.arange(30, dtype=np.float32).reshape(10, 3)
    sent = wire.Result("cam", 1, 4, 4, {"ingest": 1.0}, {"irises": [Iris(points).to_wire()]}, tracks=("iris",))
    tracking = parse_result(sent.encode())
    assert tracking.tracks == ("iris",) and tracking.faces is None
    np.testing.assert_array_equal(tracking.irises[0].landmarks, points)
