"""More cameras than MediaPipe instances, memory when they leave, and a costly camera beside a
cheap one: real ingest, gateway and two landmarkers, real MediaPipe.

Before: a worker kept 12 instances and evicted the least recently used while ingest seated
32 cameras x 3 trackers, so past 12 lanes a worker rebuilt an instance for every frame (28
face cameras at 1 fps got 23.7 results/s, worst gap 4.8 s, workers declared dead); each new
camera's instance was built on the inference path and stalled every other lane of its
worker; memory stayed at 1.3-1.4 GB per worker after the cameras left; and a 3840x2160
flood with three trackers cut a 15 fps face camera to 2.6 fps, because a free worker served
the least recently served lane whatever it cost. Longer runs of the same scenarios (28 and 40
cameras, 30 holistic ones, the flood) are `live2d-pose bench --scenarios overload`.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from live2d_pose.testing import media
from live2d_pose.testing.clients import TIMEOUT
from live2d_pose.testing.crowd import CameraPlan, crowd, track_peak
from live2d_pose.testing.frames import astronaut_frames, costly_frames
from live2d_pose.testing.pipeline import Pipeline

HOLISTIC = ("face", "pose", "hands")


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    # one test client plays every camera and viewer: no per-client limits
    pipe = Pipeline(
        tmp_path_factory.mktemp("overload"),
        workers=2,
        env={"LIVE2D_POSE_MAX_STREAMS_PER_CLIENT": "0", "LIVE2D_POSE_MAX_VIEWERS_PER_CLIENT": "0"},
    ).start()
    yield pipe
    pipe.stop_cleanly()


@pytest.fixture(scope="module")
def gesture():
    return media.video_jpeg_frames(media.media_path("gesture_video.mp4"), max_frames=60, size=(640, 360))


def _run(pipe: Pipeline, plans: list[CameraPlan], warmup: float, duration: float):
    return asyncio.run(crowd(pipe.camera_url, pipe.viewer_url, plans, warmup, duration, pipe.ingest_stats))


def test_more_face_cameras_than_the_old_instance_cap_are_all_served(pipe, figures):
    cameras, fps = 28, 1.0
    frames = astronaut_frames(8)
    plans = [
        CameraPlan(f"face{i:02d}", frames[i % 8 :] + frames[: i % 8], fps, start=i / cameras) for i in range(cameras)
    ]
    dead_before = pipe.ingest_stats()["totals"]["workers_dead"]
    outcome = _run(pipe, plans, warmup=3.0, duration=8.0)
    lanes = [lane for s in outcome.stats["streams"].values() for lane in s["lanes"].values()]
    figures["results_per_s"] = outcome.results_per_s()
    figures["worst_gap_s"] = outcome.worst_gap_s()
    figures["instances_built"] = sum(lane["warming"] for lane in lanes)
    assert not outcome.refused()
    assert outcome.results_per_s() >= 0.9 * cameras * fps
    assert outcome.worst_gap_s() < 2.5  # 1 s between frames: at most one missed
    assert outcome.stats["totals"]["workers_dead"] == dead_before
    # one instance per lane, built once (and once more per lane moved to even the load out):
    # the first frame of each was sent back while it was built
    assert sum(lane["warming"] for lane in lanes) <= cameras + outcome.stats["totals"]["seat_moves"]


def test_holistic_cameras_join_without_stalling_others_and_their_memory_comes_back(pipe, gesture, figures):
    """Eight holistic cameras join one by one next to a 15 fps face camera, then leave. They send
    a frame every 2 s: the instance builds are what is measured here, not the CPU they take.
    (Whether a build stalls a worker's other lanes is told exactly, in one process, by
    tests/system/test_trackers.py; here the steady camera's gap is bounded by what the issue measured,
    0.4-1.5 s a camera, on a shared machine.) The workers' memory comes back to where it was:
    before, it stayed at 1.2-1.5 GB over the baseline."""
    faces = astronaut_frames(16)
    baseline = pipe.workers_rss_mb()
    joining = [
        CameraPlan(
            f"body{i}", gesture[i * 5 :] + gesture[: i * 5], 0.5, (640, 360), HOLISTIC, start=2.0 + 0.5 * i, watch=False
        )
        for i in range(8)
    ]
    peak = [baseline]

    async def body():
        sampling = asyncio.create_task(track_peak(pipe.workers_rss_mb, peak))
        try:
            return await crowd(
                pipe.camera_url,
                pipe.viewer_url,
                [CameraPlan("steady", faces, 15.0)] + joining,
                1.5,
                7.0,
                pipe.ingest_stats,
            )
        finally:
            sampling.cancel()

    outcome = asyncio.run(body())
    after = _settled_rss_mb(pipe, baseline)
    figures["steady_fps_while_joining"] = outcome.results_per_s(["steady"])
    figures["steady_worst_gap_s"] = outcome.gap_s("steady")
    figures["workers_rss_mb"] = {"before": baseline, "peak": peak[0], "after": after}
    assert not outcome.refused()
    assert outcome.gap_s("steady") < 0.5, "a new camera's instance build stalled the steady stream"
    assert outcome.results_per_s(["steady"]) >= 0.8 * 15
    assert peak[0] - baseline > 300  # 24 instances were held: the check below can fail
    assert after - baseline < 0.15 * (peak[0] - baseline), (baseline, peak[0], after)


def _settled_rss_mb(pipe: Pipeline, baseline: float) -> float:
    """The workers' memory once the instances are closed (ENDs arrive, closes run: some take
    5 s inside MediaPipe when they overlap)."""
    deadline = time.monotonic() + TIMEOUT
    rss = pipe.workers_rss_mb()
    while rss > baseline + 50 and time.monotonic() < deadline:
        time.sleep(0.5)
        rss = pipe.workers_rss_mb()
    return rss


def test_costly_cameras_do_not_crowd_out_a_cheap_one(pipe, gesture, figures):
    """Equal worker time per camera under overload. Three costly cameras (3840x2160 noisy frames
    of 3.4 MB, 80 ms to decode on an idle core, face, pose and hands, 5 fps each: more than the
    two workers can serve) and a cheap one (a face at 5 fps). The cheap camera needs well under
    its share of the workers, also when a shared machine makes every frame cost three times as
    much, so it goes first whenever it waits: it loses a frame only when it waits behind one
    costly frame for longer than its frame interval. Taking turns, it waited behind every
    costly lane of its worker (four or five here): 2-3 of its 5 fps. The costly cameras share
    the rest evenly. The bench's flood4k is the full case (frames at 0 ms intervals)."""
    costly = costly_frames(gesture[::10])
    plans = [CameraPlan("cheap", astronaut_frames(16), 5.0)]
    plans += [
        CameraPlan(f"costly{i}", costly[i:] + costly[:i], 5.0, (3840, 2160), HOLISTIC, start=0.5 + i / 3, watch=False)
        for i in range(3)
    ]
    outcome = _run(pipe, plans, warmup=3.0, duration=8.0)
    done = [outcome.stats["streams"][f"costly{i}"]["done"] for i in range(3)]
    errors = [outcome.stats["streams"][f"costly{i}"]["errors"] for i in range(3)]
    figures["cheap_fps"] = outcome.results_per_s(["cheap"])
    figures["cheap_worst_gap_s"] = outcome.gap_s("cheap")
    figures["costly_lane_results"] = done
    assert min(done) > 0 and errors == [0, 0, 0]  # served, not starved; no decode_timeout
    assert min(done) / max(done) >= 0.6, done
    assert outcome.results_per_s(["cheap"]) >= 0.8 * 5
    assert outcome.gap_s("cheap") < 1.0  # two frame intervals and a costly frame


def test_a_camera_that_does_not_fit_is_refused_busy_until_room_frees(tmp_path_factory, figures):
    """A worker with room for a few face instances: one camera more is refused ``busy`` (1013,
    the camera client retries later), and gets in once another camera has left."""
    pipe = Pipeline(tmp_path_factory.mktemp("busy"), workers=1, env={"LIVE2D_POSE_MEMORY_BUDGET_MB": "90"}).start()
    try:
        worker = pipe.ingest_stats()["workers"][0]
        fits = int(worker["memory_budget_mb"] // worker["instance_mb"]["face"])
        frames = astronaut_frames(4)
        plans = [
            CameraPlan(f"cam{i}", frames, 5.0, start=0.3 * i, leave=4.0 if i == 0 else None) for i in range(fits + 1)
        ]
        plans.append(CameraPlan("later", frames, 5.0, start=5.0))
        outcome = _run(pipe, plans, warmup=0.0, duration=8.0)
    finally:
        pipe.stop_cleanly()
    figures["face_instances_that_fit"] = fits
    assert 1 <= fits <= 4, worker
    assert outcome.refused() == {f"cam{fits}": "busy"} and outcome.streams[f"cam{fits}"].close_code == 1013
    assert len(outcome.in_window("later")) > 0  # cam0 left: its room went to the next camera
