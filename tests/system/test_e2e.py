"""End to end: real processes, real sockets, real MediaPipe on real faces."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import numpy as np
import pytest

from tests.conftest import run, start_pipeline
from live2d_pose.testing import media, reference
from live2d_pose.testing.clients import TIMEOUT, Camera, Viewer
from live2d_pose.testing.frames import astronaut_frame, astronaut_frames

# MediaPipe's own run-to-run difference is ~1e-6; the wire carries float32.
LANDMARK_TOLERANCE = 1e-4
# Index of a blendshape in MediaPipe's order (the wire keeps that order).
MOUTH_SMILE_LEFT, MOUTH_SMILE_RIGHT = 44, 45


def test_landmarks_equal_direct_mediapipe(pipeline):
    frames = astronaut_frames(30)

    async def body():
        async with Viewer(pipeline.viewer_url()) as viewer, Camera(pipeline.camera_url) as camera:
            await camera.stream_frames(frames, fps=10)  # slow enough that frames are rarely dropped
            await viewer.wait_for_results(len(frames) * 9 // 10, stream=camera.stream)
            await asyncio.sleep(0.5)  # the last frames
            return [r for r in viewer.results if r.stream == camera.stream]

    results = sorted(run(body()), key=lambda r: r.seq)
    assert len({r.seq for r in results}) == len(results) and results[-1].seq <= len(frames)
    assert all(len(r.faces) == 1 and r.landmarks.shape == (478, 3) for r in results)
    assert all(r.faces[0].blendshapes.shape == (52,) and r.faces[0].matrix.shape == (16,) for r in results)
    # The reference sees exactly what the worker saw: the frames that were not
    # dropped as stale (on a loaded machine a few may be), with the same timestamps.
    processed = [frames[r.seq - 1] for r in results]
    timestamps = reference.worker_timestamps([r.ts["ingest"] for r in results])
    expected = reference.video_landmarks(processed, timestamps)
    for result, faces in zip(results, expected):
        np.testing.assert_allclose(result.landmarks, faces[0], atol=LANDMARK_TOLERANCE)
    # The face moves between frames, so equal landmarks are not a constant.
    assert np.abs(results[0].landmarks - results[15].landmarks).max() > 0.01
    ts = results[-1].ts
    assert ts["ingest"] <= ts["dispatch"] <= ts["decode_start"] <= ts["infer_start"] <= ts["infer_end"] <= ts["gateway"]


def test_real_video_smile(pipeline):
    frames = media.video_jpeg_frames(media.media_path("single_face.mp4"))

    async def body():
        async with (
            Viewer(pipeline.viewer_url()) as viewer,
            Camera(pipeline.camera_url, width=640, height=480) as camera,
        ):
            await camera.stream_frames(frames, fps=20)
            return await viewer.wait_for_results(len(frames) * 2 // 3, stream=camera.stream)

    results = sorted(run(body()), key=lambda r: r.seq)
    assert all(len(r.faces) == 1 for r in results)
    smile = [float(r.faces[0].blendshapes[[MOUTH_SMILE_LEFT, MOUTH_SMILE_RIGHT]].mean()) for r in results]
    # A man going from neutral to a wide smile.
    assert np.mean(smile[:5]) < 0.3 < np.mean(smile[-5:]), smile


def test_face_then_no_face_then_recovers(pipeline):
    video = media.video_jpeg_frames(media.media_path("face_noface.mov"))
    face_part, no_face_part = video[:60], video[80:160]
    frames = face_part + no_face_part + astronaut_frames(20)

    async def body():
        async with Viewer(pipeline.viewer_url()) as viewer, Camera(pipeline.camera_url) as camera:
            await camera.stream_frames(frames, fps=25, count=len(frames))
            await viewer.wait_for_results(1, stream=camera.stream)
            deadline = asyncio.get_running_loop().time() + 10
            while max(r.seq for r in viewer.results) < len(frames) - 2:
                assert asyncio.get_running_loop().time() < deadline, "last frames never arrived"
                await asyncio.sleep(0.05)
            return [r for r in viewer.results if r.stream == camera.stream]

    by_seq = {r.seq: len(r.faces) for r in run(body())}
    first_no_face = len(face_part) + 1
    last_no_face = len(face_part) + len(no_face_part)
    assert all(count == 1 for seq, count in by_seq.items() if seq <= len(face_part) - 5)
    no_face = [count for seq, count in by_seq.items() if first_no_face + 5 <= seq <= last_no_face]
    assert len(no_face) > 20 and sum(no_face) <= 2, "results must say 'no face' (faces: [])"
    assert all(count == 1 for seq, count in by_seq.items() if seq > last_no_face + 5)


@pytest.mark.parametrize("max_faces", [1, 5])
def test_max_faces(tmp_path_factory, max_faces):
    # Native size (1000x667): at 640x480 MediaPipe's VIDEO mode finds only one of the faces.
    photo = media.image_jpeg(media.media_path("multi_face.jpg"))
    expected = len(reference.video_landmarks([photo], [1000], max_faces)[0])
    pipe = start_pipeline(tmp_path_factory, f"faces{max_faces}", workers=1, LIVE2D_POSE_MAX_FACES=str(max_faces))
    try:

        async def body():
            async with Viewer(pipe.viewer_url()) as viewer, Camera(pipe.camera_url, width=1000, height=667) as camera:
                await camera.stream_frames([photo], fps=10, count=5)
                return await viewer.wait_for_results(3, stream=camera.stream)

        counts = {len(r.faces) for r in run(body())}
    finally:
        pipe.stop()
    assert counts == {expected}
    assert expected == 1 if max_faces == 1 else expected >= 2


def test_two_cameras_two_viewers_and_latest(pipeline):
    frame_a, frame_b = astronaut_frame(angle=-15), astronaut_frame(angle=15, mirror=True)

    async def body():
        async with (
            Camera(pipeline.camera_url + "?stream=cam-a") as cam_a,
            Camera(pipeline.camera_url + "?stream=cam-b") as cam_b,
            Viewer(pipeline.viewer_url("stream=cam-a")) as viewer_a,
            Viewer(pipeline.viewer_url("stream=cam-b")) as viewer_b,
            Viewer(pipeline.viewer_url()) as follower,
        ):
            assert (cam_a.stream, cam_b.stream) == ("cam-a", "cam-b")
            assert cam_a.viewer.endswith("stream=cam-a")
            await asyncio.gather(
                cam_a.stream_frames([frame_a], fps=15, count=30), cam_b.stream_frames([frame_b], fps=15, count=30)
            )
            await viewer_a.wait_for_results(20)
            await viewer_b.wait_for_results(20)
            await follower.wait_for_results(20)
            with urllib.request.urlopen(pipeline.http_url + "/streams", timeout=5) as response:
                streams = {s["stream"]: s for s in json.loads(response.read())}
            return viewer_a, viewer_b, follower, streams

    viewer_a, viewer_b, follower, streams = run(body())
    assert {r.stream for r in viewer_a.results} == {"cam-a"}
    assert {r.stream for r in viewer_b.results} == {"cam-b"}
    # Without ?stream= a viewer follows the stream that started last, and only it.
    assert {r.stream for r in follower.results} == {"cam-b"}
    assert follower.controls[0]["type"] == "hello"
    assert {"cam-a", "cam-b"} <= set(streams) and streams["cam-a"]["fps"] > 0
    # The two heads tilt opposite ways: the landmarks really come from each camera.
    eyes = lambda r: r.landmarks[263, 1] - r.landmarks[33, 1]  # noqa: E731 (outer eye corners)
    assert np.sign(eyes(viewer_a.results[-1])) != np.sign(eyes(viewer_b.results[-1]))


def test_camera_reconnect_with_same_stream_id(pipeline):
    frame = astronaut_frame()

    async def body():
        async with Viewer(pipeline.viewer_url("stream=cam-again")) as viewer:
            for _ in range(2):
                async with Camera(pipeline.camera_url + "?stream=cam-again") as camera:
                    before = len(viewer.results)
                    await camera.stream_frames([frame], fps=20, count=10)
                    await viewer.wait_for_results(before + 5)
            return viewer

    viewer = run(body())
    sessions = list(dict.fromkeys(r.session for r in viewer.results))
    assert len(sessions) == 2
    first, second = ([r.seq for r in viewer.results if r.session == s] for s in sessions)
    # seq restarts with the new connection (its very first frame may go by while the new
    # stream's MediaPipe instance is built), and its results are not dropped as stale
    assert min(second) < 5 < max(first), (first, second)


@pytest.mark.parametrize("source", ["image", "video"])
def test_camera_command_makes_results_flow(pipeline, tmp_path, source):
    """`live2d-pose camera --source IMAGE_OR_VIDEO`, the README's way in, against real ingest."""
    import subprocess
    import sys

    if source == "image":
        path = tmp_path / "face.jpg"
        path.write_bytes(astronaut_frame())
    else:
        path = media.media_path("single_face.mp4")
    command = [
        sys.executable,
        "-m",
        "live2d_pose",
        "camera",
        "--server",
        pipeline.camera_url + "?stream=cli-" + source,
        "--source",
        str(path),
        "--fps",
        "15",
        "--max-frames",
        "30",
    ]

    async def body():
        async with Viewer(pipeline.viewer_url("stream=cli-" + source)) as viewer:
            process = await asyncio.create_subprocess_exec(*command, stderr=subprocess.PIPE)
            _, stderr = await asyncio.wait_for(process.communicate(), 60)
            assert process.returncode == 0, stderr.decode()
            await viewer.wait_for_results(20)
            return viewer.results, stderr.decode()

    results, log = run(body())
    assert all(len(r.faces) == 1 for r in results)
    assert "viewer" in log.lower()  # the camera tells the user where to look


def test_worker_prefetch_two(tmp_path_factory):
    """--worker-prefetch 2: a worker holds two frames; nothing goes missing uncounted."""
    pipe = start_pipeline(tmp_path_factory, "prefetch", workers=1, LIVE2D_POSE_WORKER_PREFETCH="2")
    # One still frame: a flood drops frames, and MediaPipe's tracking can lose a face
    # that jumps between the frames it does see.
    frames = [astronaut_frame()]
    try:

        async def body():
            async with Viewer(pipe.viewer_url("stream=pf")) as viewer, Camera(pipe.camera_url + "?stream=pf") as camera:
                await camera.stream_frames(frames, fps=0, duration=2.0)  # saturate the worker
                # ingest reads a flood no faster than --max-fps (TCP holds the rest back), so
                # frames keep arriving a while after the camera stopped: wait until all is answered
                stats, deadline = {}, time.monotonic() + TIMEOUT
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    before, stats = stats, pipe.ingest_stats()["streams"]["pf"]
                    if (
                        before.get("received") == stats["received"]
                        and stats["dispatched"] == stats["done"] + stats["lost"]
                    ):
                        break
                return viewer.results, stats

        results, stats = run(body())
    finally:
        pipe.stop()
    assert len(results) > 20 and all(len(r.faces) == 1 for r in results)
    assert stats["lost"] == 0 and stats["dispatched"] == stats["done"], stats
