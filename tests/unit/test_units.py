"""Pure parts without sockets: wire format, image headers, camera checks, fan-out, config."""

from __future__ import annotations

import argparse
import asyncio
import json

import cv2
import msgpack
import numpy as np
import pytest

from live2d_pose import config as cfg
from live2d_pose.ingest.settings import IngestConfig
from live2d_pose import service, wire
from live2d_pose.gateway.fanout import Fanout, Mailbox, Subscription
from live2d_pose.imageinfo import ImageError, check_limits, inspect
from live2d_pose.ingest import protocol
from live2d_pose.service import ClientError
from live2d_pose.config import UpConfig
from live2d_pose.supervisor import service_commands


def encoded(fmt: str, width: int = 64, height: int = 48) -> bytes:
    image = np.full((height, width, 3), 128, np.uint8)
    return cv2.imencode(fmt, image)[1].tobytes()


# ---------------------------------------------------------------- wire


def test_frame_message_round_trip():
    meta = wire.FrameMeta("cam", 7, 640, 480, 1000.5, 1001.0)
    parts = wire.frame_message(meta, b"\xff\xd8jpeg")
    got, image = wire.split_frame_message(parts)
    assert got == meta and bytes(image) == b"\xff\xd8jpeg"


def test_result_round_trip_keeps_float32_arrays():
    face = wire.Face(
        np.arange(478 * 3, dtype=np.float32).reshape(478, 3) / 1000,
        np.linspace(0, 1, 52, dtype=np.float32),
        np.eye(4, dtype=np.float32).ravel(),
    )
    result = wire.Result("cam", 3, 640, 480, {"ingest": 1.0}, {"faces": [face.to_wire()]}, worker="w1")
    decoded = wire.Result.decode(result.encode())
    back = wire.Face.from_wire(decoded.faces[0])
    np.testing.assert_array_equal(back.landmarks, face.landmarks)
    np.testing.assert_array_equal(back.blendshapes, face.blendshapes)
    assert decoded.to_wire()["imageSize"] == {"width": 640, "height": 480}


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xc1",
        msgpack.packb([1, 2]),
        msgpack.packb({"stream": 1}),
        msgpack.packb(
            {
                "stream": "a",
                "seq": 1,
                "imageSize": {"width": 1, "height": 1},
                "ts": {},
                "faces": [{"landmarks": b"short"}],
            }
        ),
    ],
)
def test_malformed_results_are_wire_errors(payload):
    with pytest.raises(wire.WireError):
        wire.Result.decode(payload)


def test_frame_message_of_wrong_shape():
    with pytest.raises(wire.WireError):
        wire.split_frame_message([wire.FRAME, b"x"])
    with pytest.raises(wire.WireError):
        wire.split_frame_message([wire.FRAME, msgpack.packb({"stream": "a"}), b""])


# ---------------------------------------------------------------- image headers


@pytest.mark.parametrize("fmt,name", [(".jpg", "jpeg"), (".png", "png"), (".webp", "webp")])
def test_inspect_reads_size_without_decoding(fmt, name):
    info = inspect(encoded(fmt, 64, 48))
    assert (info.format, info.width, info.height) == (name, 64, 48)


def test_inspect_rejects_garbage_and_truncation():
    with pytest.raises(ImageError) as err:
        inspect(b"hello world, not an image")
    assert err.value.code == "not_an_image"
    jpeg = encoded(".jpg")
    with pytest.raises(ImageError) as err:
        inspect(jpeg[: len(jpeg) // 2])
    assert err.value.code == "truncated_image"
    png = encoded(".png")
    with pytest.raises(ImageError) as err:
        inspect(png[:-20])
    assert err.value.code == "truncated_image"


def test_decompression_bomb_header_is_refused():
    bomb = bytearray(encoded(".png", 8, 8))
    bomb[16:24] = (60000).to_bytes(4, "big") * 2  # IHDR says 60000 x 60000
    info = inspect(bytes(bomb))
    with pytest.raises(ImageError) as err:
        check_limits(info, max_pixels=4096 * 4096)
    assert err.value.code == "image_too_large"


# ---------------------------------------------------------------- camera protocol


def test_request_path_and_stream_ids():
    assert protocol.parse_request_path("/image?stream=jetbot-1&token=s").stream == "jetbot-1"
    assert protocol.parse_request_path("/").stream is None
    with pytest.raises(ClientError):
        protocol.parse_request_path("/nope")
    with pytest.raises(ClientError) as err:
        protocol.parse_request_path("/image?stream=../../etc")
    assert err.value.close_code == protocol.CLOSE_POLICY


@pytest.mark.parametrize(
    "text,code,closes",
    [
        ("not json", "bad_json", False),
        ("[1, 2]", "bad_message", False),
        ('{"imageSize": {"width": -1, "height": 480}}', "bad_message", False),
        ('{"imageSize": {"width": true, "height": 480}}', "bad_message", False),
        ('{"imageSize": {"width": 100000, "height": 100000}}', "image_too_large", True),
        ('{"imageSize": {"width": 640, "height": 480}, "pad": "' + "x" * 5000 + '"}', "text_too_large", True),
        ("[" * 1000, "bad_json", False),  # deeper than the JSON parser's recursion: was RecursionError, 1011
        ('{"imageSize": {"width": 1, "height": 1}, "a": [' + "[" * 2000 + "]}", "bad_json", False),
        # 1,500 characters, 4,500 bytes: the limit is in bytes, as the flag says
        ('{"imageSize": {"width": 640, "height": 480}, "pad": "' + "€" * 1450 + '"}', "text_too_large", True),
    ],
)
def test_image_size_errors(text, code, closes):
    with pytest.raises(ClientError) as err:
        protocol.parse_image_size(text, max_text_bytes=4096, max_pixels=3840 * 2160)
    assert err.value.code == code
    assert (err.value.close_code is not None) == closes
    assert json.loads(err.value.to_message())["type"] == "error"


def test_image_size_ok():
    assert protocol.parse_image_size('{"imageSize": {"width": 640, "height": 480}}', 4096, 10**7) == (640, 480)


def test_token_check_is_exact():
    service.check_token("secret", "secret", "camera")
    service.check_token("anything", "", "camera")  # no token configured
    with pytest.raises(ClientError):
        service.check_token("secreT", "secret", "camera")


def test_frame_limits():
    jpeg = encoded(".jpg", 64, 48)
    assert protocol.check_frame(jpeg, 10_000, 10_000).width == 64
    with pytest.raises(ClientError) as err:
        protocol.check_frame(jpeg, max_frame_bytes=100, max_pixels=10_000)
    assert (err.value.code, err.value.close_code) == ("frame_too_large", protocol.CLOSE_TOO_BIG)
    with pytest.raises(ClientError) as err:
        protocol.check_frame(jpeg, max_frame_bytes=10_000, max_pixels=100)
    assert err.value.code == "image_too_large"


def test_bad_frame_counter_forgives_then_closes():
    counter = protocol.BadFrameCounter(limit=3)
    counter.bad()
    counter.bad()
    counter.good()
    counter.bad()
    counter.bad()
    with pytest.raises(ClientError):
        counter.bad()


# ---------------------------------------------------------------- gateway fan-out


def test_mailbox_keeps_newest_result_and_all_controls():
    async def body():
        box = Mailbox()
        box.put_result(b"1")
        box.put_control("hello")
        box.put_result(b"2")
        box.put_result(b"3")
        got = [await box.get(), await box.get()]
        box.close()
        return got, box.overwritten, await box.get()

    got, overwritten, after_close = asyncio.run(body())
    assert got == ["hello", b"3"] and overwritten == 2 and after_close is None


def test_fanout_routes_by_stream_and_follows_latest():
    async def body():
        fanout = Fanout()
        wants_a = fanout.add_viewer("a", Subscription(motion=False, landmarks=True))
        follows = fanout.add_viewer(None, Subscription(motion=False, landmarks=True))
        motion_only = fanout.add_viewer(None)  # the default: no landmarks, nothing encoded for it
        fanout.stream_started("a", 640, 480, now=1)
        fanout.stream_started("b", 640, 480, now=2)
        fanout.offer("a", 1, 640, 480, 5.0, b"A1", now=3)
        fanout.offer("b", 1, 640, 480, 5.0, lambda: b"B1", now=3)  # encoded only for who wants it
        assert follows.following == "b" and wants_a.following == "a"
        assert fanout.watching("b") == [motion_only] and fanout.watching("a") == []
        fanout.stream_ended("b")
        assert follows.following == "a" == motion_only.following
        return wants_a.mailbox, follows.mailbox, motion_only.mailbox

    box_a, box_follow, box_motion = asyncio.run(body())
    assert list(box_a._results.values()) == [b"A1"]
    assert list(box_follow._results.values()) == [b"B1"]
    assert not box_motion._results


def test_a_size_change_reaches_only_its_streams_viewers_at_most_twice_a_second():
    """Results of a camera that changes size every frame: its viewers hear of a change at once,
    then at most every ANNOUNCE_INTERVAL, and of the newest size; a waiting one is replaced."""

    async def body():
        fanout = Fanout()
        watcher, other = fanout.add_viewer("a"), fanout.add_viewer("b")
        fanout.stream_started("a", 640, 480, now=0)
        fanout.stream_started("b", 640, 480, now=0)
        got = {v: [await v.mailbox.get()] for v in (watcher, other)}  # each its stream
        announced = []
        for seq in range(1, 31):  # 30 results in a second, every one another size
            fanout.offer("a", seq, 320 + seq % 2, 240, 1.0, b"x", now=seq / 30)
            fanout.announce_changes(now=seq / 30)  # the gateway's loop
            while watcher.mailbox._controls:
                announced.append(json.loads(await watcher.mailbox.get()))
        fanout.offer("a", 31, 800, 600, 1.0, b"x", now=1.05)
        fanout.offer("a", 32, 640, 360, 1.0, b"x", now=1.06)  # both held back: one message later
        fanout.announce_changes(now=1.6)
        return got, announced, list(watcher.mailbox._controls), list(other.mailbox._controls)

    got, announced, waiting, to_other = asyncio.run(body())
    assert [len(m) for m in got.values()] == [1, 1]
    assert 2 <= len(announced) <= 3 and announced[0]["imageSize"] == {"width": 321, "height": 240}
    assert len(waiting) == 1 and json.loads(waiting[0][1])["imageSize"] == {"width": 640, "height": 360}
    assert to_other == []


def test_fanout_drops_stale_results_per_tracker_and_newer_sessions_win():
    fanout = Fanout()
    fanout.stream_started("a", 640, 480, now=0, session=1)
    assert fanout.offer("a", 5, 640, 480, 1.0, b"5", now=1, session=1)
    assert not fanout.offer("a", 4, 640, 480, 1.0, b"4", now=1, session=1)
    assert fanout.offer("a", 4, 640, 480, 1.0, b"p4", now=1, tracks=("pose",), session=1)  # its own order
    assert not fanout.offer("a", 3, 640, 480, 1.0, b"p3", now=1, tracks=("pose",), session=1)
    # ingest restarted (seq starts again) or the camera reconnected: the newer session wins at once...
    assert fanout.offer("a", 1, 640, 480, 1.0, b"1", now=3, session=2)
    # ...and the old connection's late result is stale, whatever its seq
    assert not fanout.offer("a", 6, 640, 480, 1.0, b"6", now=3, session=1)
    assert fanout.streams["a"].stale == 3


def test_mailbox_keeps_the_newest_result_of_each_tracker():
    async def body():
        box = Mailbox()
        box.put_result(b"face1", "face")
        box.put_result(b"pose1", "pose")
        box.put_result(b"face2", "face")  # replaces face1, keeps its place in line
        return [await box.get(), await box.get()], box.overwritten

    got, overwritten = asyncio.run(body())
    assert got == [b"face2", b"pose1"] and overwritten == 1


def test_stream_fps_after_a_burst_stays_plausible():
    """Right after a gateway restart results queued in ingest arrive together: the rate must
    not read as thousands a second (it read 4669)."""
    fanout = Fanout()
    for seq in range(1, 6):
        fanout.offer("a", seq, 640, 480, 1.0, b"x", now=100.0 + seq * 1e-4)
    rate = fanout.streams["a"].tracks["face"].meter.rate(100.001)
    assert rate <= 5, rate
    for seq in range(6, 66):  # then 30 a second for two seconds
        fanout.offer("a", seq, 640, 480, 1.0, b"x", now=100.0 + (seq - 5) / 30)
    assert 27 <= fanout.streams["a"].tracks["face"].meter.rate(102.0) <= 33


def test_fanout_expires_silent_streams():
    fanout = Fanout(stream_timeout=5)
    fanout.stream_started("a", 640, 480, now=0)
    assert fanout.expire(now=3) == []
    assert fanout.expire(now=6) == ["a"] and not fanout.streams


# ---------------------------------------------------------------- config


def test_flag_beats_env_beats_default():
    parser = argparse.ArgumentParser()
    cfg.add_arguments(parser, IngestConfig)
    env = {"LIVE2D_POSE_PORT": "9000", "LIVE2D_POSE_MAX_FPS": "15", "LIVE2D_POSE_STREAM_AFFINITY": "no"}
    config = cfg.from_sources(IngestConfig, parser.parse_args(["--port", "9100"]), env)
    assert (config.port, config.max_fps, config.stream_affinity) == (9100, 15.0, False)
    assert config.max_streams == IngestConfig.max_streams


def test_bad_env_value_is_a_clear_error():
    with pytest.raises(SystemExit, match="LIVE2D_POSE_PORT"):
        cfg.from_sources(IngestConfig, None, {"LIVE2D_POSE_PORT": "eighty"})


def test_environment_round_trip_and_secrets_hidden():
    config = IngestConfig(camera_token="hunter2")
    assert cfg.from_sources(IngestConfig, None, cfg.to_environment(config)) == config
    assert "hunter2" not in repr(cfg.redacted(config))


def test_up_commands_wire_services_together():
    children = service_commands(UpConfig(workers=3, port=9001, http_port=9002), "/run/user/1/l2p")
    names = [c.name for c in children]
    assert names == ["ingest", "gateway", "landmarker-1", "landmarker-2", "landmarker-3"]
    ingest, gateway, worker = children[0].argv, children[1].argv, children[2].argv
    assert ingest[ingest.index("--port") + 1] == "9001"
    assert ingest[ingest.index("--host") + 1] == "127.0.0.1"  # localhost unless told otherwise
    # cameras are told the viewer on the host they reached, on the gateway's port
    assert ingest[ingest.index("--viewer-port") + 1] == "9002"
    assert ingest[ingest.index("--viewer-url") + 1] == ""
    workers = ingest[ingest.index("--workers-bind") + 1].rsplit(":", 1)[1]
    assert worker[worker.index("--ingest") + 1].endswith(":" + workers)
    assert "--gateway" not in worker  # results go back to ingest, which forwards them
    results = gateway[gateway.index("--results-bind") + 1].rsplit(":", 1)[1]
    assert ingest[ingest.index("--gateway") + 1].endswith(":" + results)
    assert "--allowed-origins" not in gateway  # its own viewer page needs no listing


def test_up_lets_an_external_viewer_read_results(monkeypatch):
    """--frontend: the viewer page lives on another site, whose Origin the gateway must allow."""
    monkeypatch.delenv("LIVE2D_POSE_ALLOWED_ORIGINS", raising=False)
    gateway = service_commands(UpConfig(frontend="https://user:pw@Viewer.example:8443/app/?x=1"), "/tmp/l2p")[1].argv
    assert gateway[gateway.index("--allowed-origins") + 1] == "https://Viewer.example:8443"
    monkeypatch.setenv("LIVE2D_POSE_ALLOWED_ORIGINS", "https://mine.example")  # the user's list wins
    assert "--allowed-origins" not in service_commands(UpConfig(frontend="https://v.example/"), "/tmp/l2p")[1].argv


# ---------------------------------------------------------------- ZeroMQ reader


def test_socket_reader_drains_every_message_in_batches():
    import zmq

    from live2d_pose.aio import SocketReader

    context = zmq.Context()
    receiver, sender = context.socket(zmq.PULL), context.socket(zmq.PUSH)
    port = receiver.bind_to_random_port("tcp://127.0.0.1")
    sender.connect(f"tcp://127.0.0.1:{port}")
    got: list[bytes] = []

    async def body():
        reader = SocketReader(receiver, lambda parts: got.append(parts[0]), batch=8)
        for i in range(50):  # queued before the reader starts: start() must find them
            sender.send(b"%d" % i)
        await asyncio.sleep(0.2)
        reader.start()
        deadline = asyncio.get_running_loop().time() + 5
        while len(got) < 50 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        for i in range(50, 250):  # arriving while it runs, more than one batch at a time
            sender.send(b"%d" % i)
        while len(got) < 250 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        reader.stop()

    try:
        asyncio.run(body())
    finally:
        receiver.close(linger=0)
        sender.close(linger=0)
        context.term()
    assert got == [b"%d" % i for i in range(250)]
