"""The outputs' gateway client and the rig's input: what they accept, what they refuse, and that
refusing never stops them."""

from __future__ import annotations

import msgpack
import pytest

from live2d_pose import wire
from live2d_pose.outputs.source import GatewaySource, _redact, viewer_url
from live2d_pose.rig import Rig
from live2d_pose.rig.motion import Motion, MotionEncoder
from live2d_pose.rig.results import parse_result
from live2d_pose.testing import record

GESTURE = "web/test/fixtures/gesture.msgpack"


@pytest.fixture(scope="module")
def result():
    return record.load(GESTURE)["results"][50]


def test_a_full_result_parses_with_every_tracker(result):
    t = parse_result(wire.pack(result))
    assert t.tracks == ("face", "pose", "hands") and len(t.faces) == 1 and len(t.poses) == 1
    assert t.hands and t.hands[0].handedness in ("Left", "Right")


def test_a_tracker_not_reported_is_none_and_an_old_gateway_means_faces_only(result):
    t = parse_result(wire.pack({**result, "tracks": ["pose"], "faces": None, "hands": None}))
    assert t.faces is None and t.hands is None and len(t.poses) == 1
    old = {k: v for k, v in result.items() if k not in ("tracks", "poses", "hands")}
    t = parse_result(wire.pack(old))
    assert t.tracks == ("face",) and len(t.faces) == 1 and t.poses is None


@pytest.mark.parametrize(
    "change, why",
    [
        ({"type": "other"}, "unknown type"),
        ({"stream": 5}, "'stream' missing or not str"),
        ({"imageSize": {"width": "640"}}, "'width' missing or not int"),
        ({"tracks": "face"}, "tracks"),
        ({"faces": "none"}, "'faces' must be a list"),
        ({"poses": [{"landmarks": b"short", "world": b""}]}, "pose"),
    ],
)
def test_malformed_results_are_wire_errors(result, change, why):
    with pytest.raises(wire.WireError, match=why):
        parse_result(wire.pack({**result, **change}))


def motion_messages(result) -> list[bytes]:
    rig, encoder = Rig(), MotionEncoder()
    rig.offer(parse_result(wire.pack(result)))
    first = encoder.update(Motion.of(rig, True))
    rig.offer(parse_result(wire.pack({**result, "seq": result["seq"] + 1})))
    return [first.delta, encoder.update(Motion.of(rig, True)).delta]


def test_the_source_counts_and_logs_bad_messages_and_keeps_going(result, caplog):
    got = []
    source = GatewaySource("ws://127.0.0.1:1/ws", got.append)
    first, second = motion_messages(result)
    newer = {**msgpack.unpackb(first), "v": 99}
    for junk in (b"\xc1", msgpack.packb([1, 2]), wire.pack(result), msgpack.packb(newer)):
        source._on_binary(junk)
    source._on_text("not json")
    source._on_text('{"type": "error", "code": "unauthorized", "message": "missing or wrong viewer token"}')
    source._on_binary(first)
    source._on_binary(second)
    assert source.counters["bad_messages"] == 5 and source.counters["motions"] == 2 and len(got) == 2
    assert got[-1].seq == result["seq"] + 1 and got[-1].bones.keys() == got[0].bones.keys()
    assert "ignored a malformed message from the gateway (5 so far)" in caplog.text
    assert "version 99; this reader knows 1" in caplog.text
    assert "the gateway refused us: missing or wrong viewer token (unauthorized)" in caplog.text


def test_viewer_url_adds_stream_and_token_and_logs_hide_the_token():
    url = viewer_url("ws://pc:8080/ws?x=1", "jetbot", "s3cret")
    assert url == "ws://pc:8080/ws?x=1&stream=jetbot&token=s3cret"
    assert "s3cret" not in _redact(url)
    assert viewer_url("ws://pc:8080/ws") == "ws://pc:8080/ws"
    assert viewer_url("ws://pc:8080/ws", mirror=False) == "ws://pc:8080/ws?mirror=0"


def test_a_bad_vmc_target_is_a_clear_error():
    from live2d_pose.outputs.vmc import parse_host_port

    assert parse_host_port("192.168.1.5:39539") == ("192.168.1.5", 39539)
    assert parse_host_port("[::1]:39539") == ("::1", 39539)
    for bad in ("39539", "host:", "host:99999", "host:port"):
        with pytest.raises(SystemExit, match="--to must be HOST:PORT"):
            parse_host_port(bad)
