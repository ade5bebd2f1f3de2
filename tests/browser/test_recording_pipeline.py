"""Round trip: a take of the live pipeline, played back, is what the live stream's viewers saw.

Real everything: gesture_video.mp4 (a woman raises her right hand to a
thumbs-up) from a camera client into ingest, two landmarkers running face,
pose and hands, the gateway solving the motion; a viewer of the live stream
(the subject's own sides), `live2d-pose record` writing take.vrma and
take.bvh, and the gateway recording the same stream itself (--record-dir).
Then `live2d-pose play take.vrma` publishes the take as another stream, and a
viewer of it sees, at each frame, the live stream's bones at that moment of
the take (the two live updates around it, slerped: what 30 fps keeps) within
1 degree; so do the gateway's own take and @pixiv/three-vrm-animation playing
the take on a VRM in Chromium. The whole-body clip (sports2d_demo.mp4) does
the same with its legs, and the played hips are where the live ones were.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import subprocess
import sys
import json
import time
import urllib.request

import numpy as np
import pygltflib as gl
import pytest

from live2d_pose.recording import Motion, read_motion
from live2d_pose.recording.motion import angle_degrees, interpolate
from live2d_pose.rig.solve import rest_rotation
from live2d_pose.testing import media
from live2d_pose.testing.clients import TIMEOUT, Camera, Viewer
from tests.conftest import start_pipeline
from tests.browser.test_recording_readers import MODELS, play

DEGREES = 1.0  # a played viewer's bones against the live stream's
SIZE = (640, 360)
FPS = 12.5  # every other frame of the 25 fps video: what two workers keep up with under load
FRAME_S = 1 / 30  # the files' frame


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gateway-takes")
    pipe = start_pipeline(
        tmp_path_factory,
        "roundtrip",
        workers=2,
        LIVE2D_POSE_RECORD_DIR=str(folder),
        LIVE2D_POSE_TRACK="face,pose,hands",
    )
    pipe.takes = folder
    yield pipe
    pipe.stop_cleanly()


def run(coroutine):
    """An async body on a thread of its own: Playwright's sync API holds an event loop on this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def viewers_of(pipe, stream: str) -> int:
    with urllib.request.urlopen(f"{pipe.http_url}/streams", timeout=TIMEOUT) as response:
        return next((s["viewers"] for s in json.load(response) if s["stream"] == stream), 0)


async def live_take(pipe, folder, clip="gesture_video.mp4", stream="live", track=""):
    """Stream the video once with a viewer and `live2d-pose record` on it: the viewer's motions."""
    frames = media.video_jpeg_frames(media.media_path(clip), size=SIZE)[::2]
    async with Viewer(pipe.viewer_url(f"stream={stream}&mirror=0&motion=1&landmarks=0")) as viewer:
        async with Camera(f"{pipe.camera_url}?stream={stream}{track}", width=SIZE[0], height=SIZE[1]) as camera:
            recorder = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "live2d_pose",
                    "record",
                    "--gateway-url",
                    pipe.viewer_url(),
                    "--stream",
                    stream,
                    "--out",
                    str(folder / "take.vrma"),
                    "--out",
                    str(folder / "take.bvh"),
                ],
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + TIMEOUT
            while viewers_of(pipe, stream) < 2 and time.monotonic() < deadline:  # the recorder is subscribed
                await asyncio.sleep(0.1)
            await camera.stream_frames(frames, fps=FPS)
            await asyncio.sleep(1.0)
        await asyncio.sleep(1.0)  # the camera left: the stream ends, the avatar eases to rest
        recorder.send_signal(signal.SIGINT)
        _, err = await asyncio.to_thread(recorder.communicate, timeout=TIMEOUT)
        assert recorder.returncode == 0, err
    return viewer.motions


async def played(pipe, take, stream="played"):
    async with Viewer(pipe.viewer_url(f"stream={stream}&mirror=0&motion=1&landmarks=0")) as viewer:
        done = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "live2d_pose",
                "play",
                str(take),
                "--stream",
                stream,
                "--gateway-url",
                f"ws://127.0.0.1:{pipe.http_port}/publish",
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT * 2,
        )
        assert done.returncode == 0, done.stderr
        await asyncio.sleep(0.5)
        return [m for m in viewer.motions if m.tracks]


def live_at(live: Motion, bone: str, t_ms: np.ndarray) -> np.ndarray:
    """The live stream's bone at these times: the two updates around each, slerped (rest where absent)."""
    keep = np.append(live.t_ms[1:] != live.t_ms[:-1], True)  # of updates at one time, the last counts
    return interpolate(live.t_ms[keep], live.rotations(bone)[keep], t_ms, rotation=True)


def start_ms(take) -> float:
    return gl.GLTF2.load_binary(str(take)).asset.extras["startTimeMs"]


def worst(live: Motion, bones, t_ms: np.ndarray, rotation) -> tuple[float, str]:
    """The largest angle between the live bones and ``rotation(bone)`` at ``t_ms`` (those the live viewer
    saw: it left before the gateway's own take ended), and its bone."""
    seen = t_ms <= live.t_ms[-1]
    assert seen.mean() > 0.8
    angles = {bone: float(angle_degrees(rotation(bone)[seen], live_at(live, bone, t_ms[seen])).max()) for bone in bones}
    bone = max(angles, key=angles.get)
    return angles[bone], bone


def played_vs_live(frames: list, take_path, take, live: Motion) -> tuple[np.ndarray, list[str], dict, float, str]:
    """A played take's viewer against the live one: when each frame was (on the live clock), the bones,
    each bone's rotations as played, and the largest angle with its bone."""
    assert len(frames) > 0.9 * len(take)
    at = start_ms(take_path) + np.array([(m.seq - 1) * FRAME_S * 1000 for m in frames])
    bones = sorted(set(live.bones) | set(take.bones))
    seen = {bone: np.array([m.bones.get(bone, rest_rotation(bone)) for m in frames]) for bone in bones}
    angle, bone = worst(live, bones, at, seen.get)
    return at, bones, seen, angle, bone


def test_a_take_of_the_live_pipeline_plays_back_as_the_live_stream_was_seen(
    pipeline, tmp_path, chromium, probe, figures
):
    motions = run(live_take(pipeline, tmp_path))
    live = Motion.from_samples([(m.t, m) for m in motions])
    take = read_motion(tmp_path / "take.vrma")
    t0 = start_ms(tmp_path / "take.vrma")
    assert take.duration_ms > 6000 and {"rightUpperArm", "rightIndexProximal", "head"} <= set(take.bones)
    assert (tmp_path / "take.bvh").read_text().startswith("HIERARCHY")

    # a viewer of the played take sees, at each frame, the live stream's bones at that moment
    frames = run(played(pipeline, tmp_path / "take.vrma"))
    _, bones, seen, angle, bone = played_vs_live(frames, tmp_path / "take.vrma", take, live)
    figures["played_vs_live_max_degrees"] = angle
    assert angle < DEGREES, (bone, angle)
    elbow = np.degrees(2 * np.arccos(np.clip(np.abs(seen["rightLowerArm"][:, 3]), 0, 1)))
    assert elbow.max() > 45, "the right hand came up in the played take too"

    # the gateway's own take of the same stream (written once the stream ended and came to rest)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and not list(pipeline.takes.glob("live-*.bvh")):
        time.sleep(0.2)
    own = next(pipeline.takes.glob("live-*.vrma"))
    gateway_take = read_motion(own)
    at = start_ms(own) + gateway_take.t_ms
    angle, bone = worst(live, bones, at, gateway_take.rotations)
    figures["gateway_take_vs_live_max_degrees"] = angle
    assert angle < DEGREES, (bone, angle)

    # three-vrm-animation plays the take on a VRM with the live stream's bones
    times = [k * FRAME_S for k in range(0, len(take), 5)]
    read = play(chromium, probe, MODELS["builtin"], tmp_path / "take.vrma", times)
    on_avatar = set(read["samples"][0]["bones"]) & set(bones)
    assert {"rightUpperArm", "rightLowerArm", "head"} <= on_avatar
    avatar = {bone: np.array([s["bones"][bone] for s in read["samples"]]) for bone in on_avatar}
    angle, bone = worst(live, on_avatar, t0 + np.array(times) * 1000, avatar.get)
    figures["three_vrm_animation_vs_live_max_degrees"] = angle
    assert angle < DEGREES, (bone, angle)


LEGS = ("leftUpperLeg", "leftLowerLeg", "rightUpperLeg", "rightLowerLeg")
HIPS_M = 0.005  # the played hips' position against the live stream's (float32, slerp-free: linear between updates)


def test_a_take_of_the_whole_body_plays_back_with_its_legs_and_hips_as_the_live_stream_was_seen(
    pipeline, tmp_path, figures
):
    """sports2d_demo.mp4 (a woman walks across, a man jumps and lands) with the body pose only: the
    played take's viewer sees the live legs and the hips where they were in the room."""
    motions = run(live_take(pipeline, tmp_path, "sports2d_demo.mp4", "walk", "&track=pose"))
    live = Motion.from_samples([(m.t, m) for m in motions])
    take = read_motion(tmp_path / "take.vrma")
    assert set(LEGS) <= set(take.bones) and take.hips is not None
    assert "hips" in (tmp_path / "take.bvh").read_text().split("MOTION")[0]

    frames = run(played(pipeline, tmp_path / "take.vrma", "played-walk"))
    at, _, seen, angle, bone = played_vs_live(frames, tmp_path / "take.vrma", take, live)
    figures["whole_body_played_vs_live_max_degrees"] = angle
    assert angle < DEGREES, (bone, angle)
    knee = np.degrees(2 * np.arccos(np.clip(np.abs(seen["leftLowerLeg"][:, 3]), 0, 1)))
    assert knee.max() > 20, "a knee bent in the walk"

    placed = np.array([m.hips_position is not None for m in frames])
    assert placed.mean() > 0.8
    live_hips = live.hips[~np.isnan(live.hips).any(axis=1)]
    live_t = live.t_ms[~np.isnan(live.hips).any(axis=1)]
    keep = (at[placed] >= live_t[0]) & (at[placed] <= live_t[-1])  # while the live viewer had the hips placed
    played_hips = np.array([m.hips_position for m in frames if m.hips_position is not None])[keep]
    expected = np.stack([np.interp(at[placed][keep], live_t, live_hips[:, k]) for k in range(3)], axis=1)
    travel = np.ptp(played_hips[:, 0])
    error = float(np.abs(played_hips - expected).max())
    figures["whole_body_played_hips_vs_live_max_mm"] = error * 1000
    assert travel > 0.1 and error < HIPS_M, (travel, error)
