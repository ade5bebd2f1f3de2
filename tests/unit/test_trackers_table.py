"""The tracker table (live2d_pose/trackers.json) and everything that reads it: the item types,
the landmarker's and up's settings, the camera client's standalone copies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from live2d_pose import camera, wire
from live2d_pose.config import UpConfig
from live2d_pose.landmarker.settings import MODELS_DIR, LandmarkerConfig
from live2d_pose.trackers import TABLE, TRACKERS, UNTAGGED, WireError


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


def test_a_result_and_the_rigs_tracking_hold_a_list_for_each_tracker():
    """A new row needs its list in both (docs/architecture.md, "a tracker")."""
    from live2d_pose.rig.results import Tracking

    for holder in (wire.Result, Tracking):
        fields = {f.name for f in dataclasses.fields(holder)}
        assert {t.key for t in TRACKERS.values()} <= fields, holder.__name__
