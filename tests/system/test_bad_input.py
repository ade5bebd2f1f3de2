"""Every bad camera input gets a clear error, and a second, healthy stream keeps flowing.

The protocol cases run the real ingest and gateway in-process with fake workers
(live2d_pose.testing.inprocess): they are about ingest's answers. The decode-cost
bomb runs on the real pipeline (MediaPipe workers, processes): it is about workers
surviving, and the healthy camera's results beside it."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager

import cv2
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import run
from live2d_pose.testing.clients import TIMEOUT, Camera, Viewer, recv_json
from live2d_pose.testing.frames import astronaut_frame
from live2d_pose.testing.inprocess import InProcess
from live2d_pose.testing.poison import scan_bomb

# The in-process servers, and the module's real pipeline (tests/conftest.py), run with these limits.
MAX_FRAME_BYTES = 512 * 1024
MAX_PIXELS = 1920 * 1080


def in_process() -> InProcess:
    return InProcess(workers=2, ingest={"max_frame_bytes": MAX_FRAME_BYTES, "max_pixels": MAX_PIXELS})


@asynccontextmanager
async def healthy_stream(pipeline):
    """A second camera streaming real faces, and its viewer; checks it kept flowing."""
    frame = astronaut_frame()
    async with Camera(pipeline.camera_url) as camera, Viewer(pipeline.viewer_url(f"stream={camera.stream}")) as viewer:
        sender = asyncio.create_task(camera.stream_frames([frame], fps=20, duration=60))
        await viewer.wait_for_results(3)
        before = len(viewer.results)
        yield
        await viewer.wait_for_results(before + 10)
        assert all(len(r.faces) == 1 for r in viewer.results)
        sender.cancel()


async def handshake(pipeline, query: str = "") -> object:
    websocket = await connect(pipeline.camera_url + query, open_timeout=TIMEOUT, max_size=None)
    assert (await recv_json(websocket))["type"] == "initialized"
    return websocket


async def expect_error(websocket, code: str) -> dict:
    message = await recv_json(websocket)
    assert message["type"] == "error" and message["code"] == code, message
    assert message["message"]
    return message


async def expect_close(websocket, close_code: int) -> None:
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(websocket.recv(), TIMEOUT)
    assert websocket.close_code == close_code


async def send_size(websocket, width=640, height=480) -> None:
    await websocket.send(json.dumps({"imageSize": {"width": width, "height": height}}))
    assert (await recv_json(websocket))["type"] == "ok"
    assert (await recv_json(websocket))["type"] == "ready"


def test_frame_before_image_size():
    async def body():
        async with in_process() as pipeline:
            async with healthy_stream(pipeline):
                websocket = await handshake(pipeline)
                await websocket.send(astronaut_frame())
                await expect_error(websocket, "no_image_size")
                await send_size(websocket)  # the camera can still go on properly
                await websocket.close()

    run(body())


@pytest.mark.parametrize(
    "text,code",
    [
        ("hello", "bad_json"),
        ('{"imageSize": "640x480"}', "bad_message"),
        ('{"imageSize": {"width": 0, "height": 480}}', "bad_message"),
        ('["imageSize"]', "bad_message"),
    ],
)
def test_bad_text_before_and_after_ready(text, code):
    async def body():
        async with in_process() as pipeline:
            async with healthy_stream(pipeline):
                websocket = await handshake(pipeline)
                await websocket.send(text)
                await expect_error(websocket, code)
                await send_size(websocket)
                await websocket.send(text)
                await expect_error(websocket, code)
                await websocket.close()

    run(body())


def _headers_only_jpeg() -> bytes:
    jpeg = astronaut_frame()
    return jpeg[: jpeg.find(b"\xff\xda")] + b"\xff\xd9"  # valid headers, no image data


@pytest.mark.parametrize(
    "payload,code",
    [
        (b"this is not an image", "not_an_image"),
        (astronaut_frame()[:20000], "truncated_image"),
        (_headers_only_jpeg(), "decode_failed"),  # passes ingest's header check; the worker says so
    ],
)
def test_bad_frames_get_errors_and_the_camera_goes_on(payload, code):
    async def body():
        async with in_process() as pipeline:
            async with healthy_stream(pipeline):
                async with Camera(pipeline.camera_url) as camera:
                    await camera.send(payload)
                    error = await camera.wait_for_error(code)
                    assert error["message"]
                    await camera.send(astronaut_frame())  # still open and served
                    async with Viewer(pipeline.viewer_url(f"stream={camera.stream}")) as viewer:
                        await camera.stream_frames([astronaut_frame()], fps=20, count=10)
                        await viewer.wait_for_results(1)

    run(body())


def test_frame_over_byte_limit_closes_1009():
    noise = np.random.default_rng(0).integers(0, 255, (560, 640, 3), dtype=np.uint8)
    big = cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes()
    # Over the limit, under twice it: ingest's own check answers (above, websockets closes 1009).
    assert MAX_FRAME_BYTES < len(big) < 2 * MAX_FRAME_BYTES

    async def body():
        async with in_process() as pipeline:
            async with healthy_stream(pipeline):
                websocket = await handshake(pipeline)
                await send_size(websocket, 640, 560)
                await websocket.send(big)
                await expect_error(websocket, "frame_too_large")
                await expect_close(websocket, 1009)
                websocket = await handshake(pipeline)
                await send_size(websocket, 640, 560)
                await websocket.send(big * 3)
                await expect_close(websocket, 1009)

    run(body())


def test_image_over_pixel_limit_closes_1009():
    # A tiny file that declares a huge image: the decompression-bomb shape.
    bomb = cv2.imencode(".png", np.zeros((1100, 2000), np.uint8))[1].tobytes()
    assert len(bomb) < 64 * 1024 and 2000 * 1100 > MAX_PIXELS

    async def body():
        async with in_process() as pipeline:
            async with healthy_stream(pipeline):
                websocket = await handshake(pipeline)
                await send_size(websocket)
                await websocket.send(bomb)
                await expect_error(websocket, "image_too_large")
                await expect_close(websocket, 1009)
                websocket = await handshake(pipeline)
                await websocket.send(json.dumps({"imageSize": {"width": 20000, "height": 20000}}))
                await expect_error(websocket, "image_too_large")
                await expect_close(websocket, 1009)

    run(body())


def test_scan_bomb_is_refused_at_ingest_and_other_streams_keep_flowing(pipeline, figures):
    """A ~46 KB progressive JPEG that takes a worker seconds to decode."""
    bomb = scan_bomb(1920, 1080, scans=1500)  # the reported bomb, at this pipeline's --max-pixels
    dead_before = pipeline.ingest_stats()["totals"]["workers_dead"]

    async def body():
        frame = astronaut_frame()
        async with (
            Camera(pipeline.camera_url) as healthy,
            Viewer(pipeline.viewer_url(f"stream={healthy.stream}")) as viewer,
        ):
            sender = asyncio.create_task(healthy.stream_frames([frame], fps=20, duration=60))
            await viewer.wait_for_results(3)
            started = time.time() * 1000
            bomber = await handshake(pipeline)
            await send_size(bomber, 1920, 1080)
            await bomber.send(bomb)
            error = await expect_error(bomber, "image_too_complex")
            await expect_close(bomber, 1009)
            await asyncio.sleep(2.0)  # a worker stuck on the bomb would show here
            sender.cancel()
            arrivals = [started] + [r.received_ms for r in viewer.results if r.received_ms > started]
            return error, max(b - a for a, b in zip(arrivals, arrivals[1:]))

    error, gap_ms = run(body())
    figures["bomb_bytes"] = len(bomb)
    figures["healthy_stream_max_gap_ms"] = gap_ms
    assert "1501 scans" in error["message"]
    assert gap_ms < 1000
    stats = pipeline.ingest_stats()
    assert stats["totals"]["workers_dead"] == dead_before and len(stats["workers"]) == 2
    assert all(service.alive() for service in pipeline.services.values())


def test_unknown_path_is_404():
    async def body():
        async with in_process() as pipeline:
            async with healthy_stream(pipeline):
                with pytest.raises(InvalidStatus) as err:
                    await connect(f"ws://127.0.0.1:{pipeline.camera_port}/video", open_timeout=TIMEOUT)
                assert err.value.response.status_code == 404
                assert b"/image" in err.value.response.body

    run(body())


def test_errors_are_counted_in_stats():
    async def body():
        async with in_process() as pipeline:
            async with Camera(pipeline.camera_url) as camera:
                for _ in range(3):
                    await camera.send(b"this is not an image")
                await camera.wait_for_error("not_an_image")
                await asyncio.sleep(0.1)
                return pipeline.ingest_stats()

    stats = run(body())
    assert stats["totals"]["rejected"] == 3
    assert sum(s["rejected"] for s in stats["streams"].values()) in (0, 3)  # counted per camera while it lives
