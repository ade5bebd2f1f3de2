"""The landmarker's tracker plug-ins and its per-lane MediaPipe instances (real MediaPipe, in-process)."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("mediapipe")

from live2d_pose.trackers import TRACKERS
from live2d_pose import wire
from live2d_pose.landmarker.settings import LandmarkerConfig
from live2d_pose.landmarker import trackers
from live2d_pose.landmarker.decoder import decode_image
from live2d_pose.landmarker.detector import LaneInstances
from live2d_pose.testing import media
from live2d_pose.testing.frames import astronaut_frame


def test_every_wire_track_has_a_tracker_with_a_checked_bundled_model():
    assert trackers.REGISTRY.keys() == TRACKERS.keys()
    built = trackers.build(tuple(TRACKERS), LandmarkerConfig())
    assert {name: tracker.key for name, tracker in built.items()} == {
        "face": "faces",
        "pose": "poses",
        "hands": "hands",
    }


@pytest.mark.parametrize("track, setting", [("pose", "pose_model_sha256"), ("hands", "hand_model_sha256")])
def test_a_model_with_the_wrong_checksum_is_refused(track, setting):
    config = LandmarkerConfig(**{setting: "0" * 64})
    with pytest.raises(trackers.ModelError, match=f"{track} model .* has sha256"):
        trackers.build((track,), config)
    trackers.build(("face",), config)  # a worker that does not run it does not read it


def test_landmarker_exits_2_on_a_bad_model_or_tracker_name():
    for flags, words in (
        (["--hand-model-sha256", "0" * 64], "hands model"),
        (["--trackers", "face,tail"], "unknown tracker 'tail'"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "live2d_pose", "landmarker", *flags], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 2 and words in done.stderr, done.stderr[-2000:]


def built_instance(lanes: LaneInstances, seat):
    """The seat's instance, once the keeper thread has built it."""
    deadline = time.monotonic() + 30
    while (instance := lanes.get(seat)) is None:
        assert time.monotonic() < deadline, f"{seat} was never built"
        time.sleep(0.01)
    return instance


def test_pose_and_hands_find_the_person_in_mediapipes_samples():
    built = trackers.build(("pose", "hands"), LandmarkerConfig())
    lanes = LaneInstances(built)
    try:
        pose_image = decode_image(media.image_jpeg(media.media_path("pose_test.jpg")), 3840 * 2160)
        hand_image = decode_image(media.image_jpeg(media.media_path("hand_thumb_up.jpg")), 3840 * 2160)
        poses = [
            wire.Pose.from_wire(p) for p in lanes.detect(built_instance(lanes, ("s", "pose", 0)), pose_image, 1000)
        ]
        hands = [
            wire.Hand.from_wire(h) for h in lanes.detect(built_instance(lanes, ("s", "hands", 0)), hand_image, 1000)
        ]
    finally:
        lanes.close_all()
    assert len(poses) == 1 and poses[0].landmarks.shape == (33, 5) and poses[0].world.shape == (33, 3)
    assert (poses[0].landmarks[:, 3:] <= 1).all() and poses[0].landmarks[0, 3] > 0.5  # nose visible
    assert len(hands) == 1 and hands[0].handedness in ("Left", "Right") and hands[0].score > 0.5


def test_a_new_lanes_instance_is_built_beside_the_other_lanes_frames():
    """A new camera's instance is built on the keeper thread: its first frame is answered
    warming_up at once (no decode, no inference), the lanes already built go on being served
    while the build runs, and BUILT is announced after the warming_up answer. Built on the inference thread, each new camera stalled the
    worker's other lanes for the whole model load."""
    from live2d_pose.landmarker.inference import Inference, Job

    rgb = decode_image(astronaut_frame(), 3840 * 2160)

    class Decoded:
        def decode(self, data):
            return rgb, (640, 480)

        def close(self):
            pass

    events = []  # (what, seat or error code), in order
    lanes = LaneInstances(trackers.build(("face", "pose"), LandmarkerConfig()))
    inference = Inference(
        lanes,
        Decoded(),
        "w",
        lambda meta, result: events.append((meta.track, result.error["code"] if result.error else "served")),
        announce=lambda seat: events.append(("built", seat[1])),
    )
    inference.start()

    def frame(track: str, seq: int) -> Job:
        return Job(wire.FrameMeta("s", seq, 640, 480, ts_ingest=wire.now_ms(), track=track), b"", b"")

    try:
        built_instance(lanes, ("s", "face", 0))
        events.clear()
        inference.submit(frame("pose", 1))
        for seq in range(1, 40):
            inference.submit(frame("face", seq))
            time.sleep(0.01)
            if ("built", "pose") in events:
                break
        deadline = time.monotonic() + 30
        while ("built", "pose") not in events and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        inference.stop()
        inference.join(timeout=30)
    assert events[0] == ("pose", wire.WARMING_UP), events[:3]
    during_build = events[1 : events.index(("built", "pose"))]
    assert ("face", "served") in during_build, events
    assert lanes.built == 2 and not lanes.instances  # stopping closed both


def test_lane_instances_one_per_seat_lru_capped_and_closed():
    built = trackers.build(("face",), LandmarkerConfig())
    lanes = LaneInstances(built, max_instances=2)
    rgb = decode_image(astronaut_frame(), 3840 * 2160)
    try:
        for stream in ("a", "b", "a", "c"):  # c pushes out b, the least recently used
            faces = lanes.detect(built_instance(lanes, (stream, "face", 0)), rgb, 1000)
            assert len(faces) == 1
        assert list(lanes.instances) == [("a", "face", 0), ("c", "face", 0)] and lanes.evicted == 1
        # timestamps are forced strictly increasing per instance (VIDEO mode insists)
        lanes.detect(lanes.get(("a", "face", 0)), rgb, 5)
        assert lanes.instances[("a", "face", 0)].last_timestamp_ms == 1002
        lanes.close(("a", "face", 0))
        assert list(lanes.instances) == [("c", "face", 0)]
        # a lane ENDed while it is built: the instance is closed when the build ends, never kept
        assert lanes.get(("d", "face", 0)) is None and lanes.building(("d", "face", 0))
        lanes.close(("d", "face", 0))
        time.sleep(0.5)
        assert lanes.get(("c", "face", 0)) is not None and ("d", "face", 0) not in lanes.instances
    finally:
        lanes.close_all()
    assert not lanes.instances


def test_a_frame_over_the_decode_pixel_cap_is_decoded_smaller_and_finds_the_same_face():
    """--decode-max-pixels: a 3840x2160 frame is decoded at 1/2 scale (JPEG DCT scaling, a
    fraction of the cost); results still report the frame's own size, and the face's landmarks
    (normalised) match a full-size decode's."""
    import cv2

    from live2d_pose.landmarker.decoder import Decoder

    small = cv2.imdecode(np.frombuffer(astronaut_frame(), np.uint8), cv2.IMREAD_COLOR)
    uhd = cv2.imencode(
        ".jpg", cv2.resize(small, (3840, 2160), interpolation=cv2.INTER_CUBIC), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )[1].tobytes()
    decoder = Decoder(3840 * 2160, timeout=5.0, target_pixels=1920 * 1080)
    lanes = LaneInstances(trackers.build(("face",), LandmarkerConfig()))
    try:
        rgb, frame_size = decoder.decode(uhd)
        assert rgb.shape == (1080, 1920, 3) and frame_size == (3840, 2160)
        reduced = lanes.detect(built_instance(lanes, ("half", "face", 0)), rgb.copy(), 1)
        full = lanes.detect(built_instance(lanes, ("full", "face", 0)), decode_image(uhd, 3840 * 2160), 1)
    finally:
        decoder.close()
        lanes.close_all()
    reduced, full = (wire.Face.from_wire(faces[0]).landmarks[:, :2] for faces in (reduced, full))
    assert np.abs(reduced - full).max() < 0.01


def test_a_decode_error_is_an_image_error():
    from live2d_pose.imageinfo import ImageError

    jpeg = astronaut_frame()
    with pytest.raises(ImageError) as caught:
        decode_image(jpeg[: jpeg.find(b"\xff\xda")] + b"\xff\xd9", 3840 * 2160)
    assert caught.value.code == "decode_failed"
    assert np.asarray(decode_image(jpeg, 3840 * 2160)).shape == (480, 640, 3)


# ---------------------------------------------------------------- the decode helper


def test_decoder_kills_a_decode_over_its_deadline_and_goes_on():
    from live2d_pose.imageinfo import ImageError
    from live2d_pose.landmarker.decoder import Decoder
    from live2d_pose.testing import poison

    decoder = Decoder(3840 * 2160, timeout=0.5, max_scan_pixels=10**12)  # let the bomb past the header budget
    try:
        first = decoder._helper.process
        with pytest.raises(ImageError) as caught:
            decoder.decode(poison.scan_bomb())
        assert caught.value.code == "decode_timeout" and decoder.timeouts == 1
        assert first.poll() is not None, "the stuck helper was killed"
        rgb, _ = decoder.decode(astronaut_frame())  # the spare took over
        assert rgb.shape == (480, 640, 3)
    finally:
        decoder.close()


def test_a_crashed_decode_helper_costs_one_frame_not_the_worker():
    from live2d_pose.imageinfo import ImageError
    from live2d_pose.landmarker.decoder import Decoder

    decoder = Decoder(3840 * 2160, timeout=5.0)
    try:
        decoder.decode(astronaut_frame())
        decoder._helper.process.kill()  # as a decoder crash on a malicious file would
        decoder._helper.process.wait()
        with pytest.raises(ImageError) as caught:
            decoder.decode(astronaut_frame())
        assert caught.value.code == "decode_failed" and decoder.crashes == 1
        assert decoder.decode(astronaut_frame())[0].shape == (480, 640, 3)
    finally:
        decoder.close()


def test_decoder_refuses_a_bomb_over_the_scan_budget_before_decoding():
    """The worker holds frames to the same header budget as ingest (--max-scan-pixels)."""
    from live2d_pose.imageinfo import ImageError
    from live2d_pose.landmarker.decoder import Decoder
    from live2d_pose.testing import poison

    decoder = Decoder(3840 * 2160, timeout=5.0)
    try:
        started = decoder._helper.process
        with pytest.raises(ImageError) as caught:
            decoder.decode(poison.scan_bomb())
        assert caught.value.code == "image_too_complex" and decoder.timeouts == 0
        assert started.poll() is None, "no decode ran, so nothing was killed"
    finally:
        decoder.close()
