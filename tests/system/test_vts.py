"""The VTube Studio plugin against a STAND-IN for VTube Studio (tests/vts_standin.py).

VTube Studio is a closed desktop app that cannot run here; the stand-in
implements the published API messages and error codes. These tests check the
plugin's requests field by field against the published schema, the token
flow (asked once, kept 0600, a revoked token asked again, a denial logged and
retried), the 1-per-second re-send rule, and reconnecting when VTS restarts.
The plugin is fed the motion of real recorded MediaPipe results (the rig's, as the gateway
sends it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import stat
import time
from collections.abc import Callable

import pytest

from tests.conftest import run
from tests.vts_standin import DEFAULT_PARAMETERS, VtsStandIn
from live2d_pose import wire
from live2d_pose.config import VtsConfig
from live2d_pose.outputs import vts
from live2d_pose.rig import Rig
from live2d_pose.rig.motion import Motion
from live2d_pose.rig.results import parse_result
from live2d_pose.testing import record

GESTURE = "web/test/fixtures/gesture.msgpack"


@pytest.fixture(scope="module")
def frames():
    """The motion after every result of gesture_video.mp4 (real MediaPipe), at the video's own times."""
    rig, out = Rig(), []
    for r in record.load(GESTURE)["results"]:
        rig.offer(parse_result(wire.pack(r), received_ms=r["ts"]["ingest"]))
        out.append(Motion.of(rig, mirror=True))
    return out


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(vts, "RECONNECT_MIN", 0.05)
    monkeypatch.setattr(vts, "RECONNECT_MAX", 0.2)
    monkeypatch.setattr(vts, "DENIED_RETRY_MIN", 0.2)
    monkeypatch.setattr(vts, "DENIED_RETRY_MAX", 0.4)
    monkeypatch.setattr(vts, "REQUEST_TIMEOUT", 1.0)


def plugin(url: str, tmp_path) -> vts.VtsOutput:
    return vts.VtsOutput(VtsConfig(vts_url=url, token_file=str(tmp_path / "config" / "vts-token")))


async def feed(output, frames, fps: float = 30.0) -> None:
    for frame in frames:
        output.send(frame)
        await asyncio.sleep(1 / fps)


async def wait_until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def check_envelope(request: dict) -> None:
    """Every request: the published envelope (README "API Details")."""
    assert request["apiName"] == "VTubeStudioPublicAPI"
    assert request["apiVersion"] == "1.0"
    assert isinstance(request["requestID"], str) and 1 <= len(request["requestID"]) <= 64
    assert request["requestID"].isascii()
    assert isinstance(request["messageType"], str) and request["messageType"].endswith("Request")


def check_request(request: dict) -> None:
    """Field by field against the published schema of each request the plugin sends."""
    check_envelope(request)
    kind, data = request["messageType"], request.get("data")
    if kind == "AuthenticationTokenRequest":
        assert set(data) <= {"pluginName", "pluginDeveloper", "pluginIcon"}
        assert 3 <= len(data["pluginName"]) <= 32 and 3 <= len(data["pluginDeveloper"]) <= 32
    elif kind == "AuthenticationRequest":
        assert set(data) == {"pluginName", "pluginDeveloper", "authenticationToken"}
        assert all(isinstance(v, str) and v for v in data.values())
    elif kind == "InputParameterListRequest":
        assert data is None
    elif kind == "InjectParameterDataRequest":
        assert set(data) == {"faceFound", "mode", "parameterValues"}
        assert data["faceFound"] is True and data["mode"] == "set"
        for item in data["parameterValues"]:
            assert set(item) == {"id", "value"}
            assert isinstance(item["value"], float) and abs(item["value"]) <= 1_000_000
    else:
        raise AssertionError(f"unexpected request {kind}")


def test_first_run_asks_once_keeps_the_token_private_and_injects(tmp_path, frames, caplog):
    caplog.set_level(logging.INFO, "live2d_pose")

    async def body():
        async with VtsStandIn() as standin:
            output = plugin(standin.url, tmp_path)
            await output.start()
            await feed(output, frames[40:100])
            await wait_until(lambda: len(standin.injections) >= 20, what="injections")
            await output.stop()
            return standin, output

    standin, output = run(body())
    assert standin.token_requests == 1
    token_file = tmp_path / "config" / "vts-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    assert token_file.read_text().strip() in standin.tokens
    kinds = [r["messageType"] for r in standin.requests]
    assert kinds[:3] == ["AuthenticationTokenRequest", "AuthenticationRequest", "InputParameterListRequest"]
    for request in standin.requests:
        check_request(request)
    assert not standin.errors
    sent = {}
    for _, data in standin.injections:
        for item in data["parameterValues"]:
            sent.setdefault(item["id"], []).append(item["value"])
    assert set(sent) == set(vts.PARAMETERS) and set(sent) <= set(DEFAULT_PARAMETERS)
    for name, values in sent.items():
        lo, hi = DEFAULT_PARAMETERS[name]
        assert lo <= min(values) and max(values) <= hi, (name, min(values), max(values))
    # the values follow the face: the head and the mouth move over the clip
    for name in ("FaceAngleX", "FaceAngleY", "MouthSmile", "EyeOpenLeft"):
        assert max(sent[name]) - min(sent[name]) > 0.01, name
    assert 'click "Allow"' in caplog.text and "token saved in" in caplog.text
    assert output.counters["injected"] == len(standin.injections)


def test_resends_within_a_second_while_the_face_is_fresh_then_stops(tmp_path, frames):
    async def body():
        async with VtsStandIn() as standin:
            output = plugin(standin.url, tmp_path)
            await output.start()
            await wait_until(lambda: output.websocket is not None and len(standin.requests) >= 3, what="authentication")
            output.send(frames[50])  # one result, then the pipeline goes quiet
            await asyncio.sleep(vts.FACE_FRESH_FOR + 1.5)
            await output.stop()
            return standin

    standin = run(body())
    times = [t for t, _ in standin.injections]
    assert len(times) >= 4, times
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) < 1.0, gaps  # VTS drops a parameter not re-sent within 1 s
    assert times[-1] - times[0] <= vts.FACE_FRESH_FOR + 0.6  # then it lets go: no face is found


def test_saved_token_is_reused_and_a_revoked_one_is_asked_again(tmp_path, frames, caplog):
    caplog.set_level(logging.INFO, "live2d_pose")

    async def body():
        async with VtsStandIn() as standin:
            first = plugin(standin.url, tmp_path)
            await first.start()
            await feed(first, frames[40:50])
            await wait_until(lambda: standin.injections, what="first injection")
            await first.stop()
            asked_before = standin.token_requests
            # a second run: the saved token, no popup
            second = plugin(standin.url, tmp_path)
            await second.start()
            await feed(second, frames[50:60])
            await wait_until(lambda: len(standin.injections) >= 5, what="injections")
            asked_after_restart = standin.token_requests
            # the user revokes the plugin in VTS while it runs: it asks again and goes on
            standin.revoke()
            count = len(standin.injections)
            await feed(second, frames[60:120])
            await wait_until(lambda: len(standin.injections) > count + 5, what="injections after revoke")
            await second.stop()
            # and a run that starts with the revoked token asks again too
            standin.revoke()
            third = plugin(standin.url, tmp_path)
            await third.start()
            await feed(third, frames[120:140])
            await wait_until(lambda: standin.token_requests == asked_after_restart + 2, what="a third token")
            await third.stop()
            return standin, asked_before, asked_after_restart

    standin, asked_before, asked_after_restart = run(body())
    assert asked_before == 1 and asked_after_restart == 1
    assert 50 in standin.errors  # the revoked session's inject was refused with error 50
    assert "no longer accepts live2d-pose" in caplog.text
    assert "refused the saved token" in caplog.text
    for request in standin.requests:
        check_request(request)


def test_denied_access_is_logged_and_asked_again_later_without_crashing(tmp_path, frames, caplog):
    caplog.set_level(logging.INFO, "live2d_pose")

    async def body():
        async with VtsStandIn() as standin:
            standin.grant = False
            output = plugin(standin.url, tmp_path)
            await output.start()
            await feed(output, frames[40:50])
            await wait_until(lambda: output.counters["denied"] >= 2, what="two denials")
            assert not output.task.done()
            assert not (tmp_path / "config" / "vts-token").exists()
            standin.grant = True  # the user changes their mind
            await feed(output, frames[50:80])
            await wait_until(lambda: standin.injections, what="injections after allowing")
            await output.stop()
            return standin

    standin = run(body())
    assert standin.errors.count(50) >= 2
    assert "did not give live2d-pose access (error 50" in caplog.text
    assert "Allow live2d-pose in VTube Studio" in caplog.text


def test_reconnects_when_vts_restarts(tmp_path, frames, caplog):
    caplog.set_level(logging.INFO, "live2d_pose")

    async def body():
        first = VtsStandIn()
        async with first:
            output = plugin(first.url, tmp_path)
            await output.start()
            await feed(output, frames[40:50])
            await wait_until(lambda: first.injections, what="injections")
        # VTS quits: the plugin says so and keeps trying; VTS comes back on the same port
        await feed(output, frames[50:60])
        await asyncio.sleep(0.5)
        assert not output.task.done()
        async with VtsStandIn(port=first.port, tokens=first.tokens) as second:
            await feed(output, frames[60:100])
            await wait_until(lambda: second.injections, what="injections after the restart")
            await output.stop()
            return first, second, output

    first, second, output = run(body())
    assert output.counters["connects"] == 2
    assert second.token_requests == 0  # the saved token still works
    assert "cannot reach VTube Studio" in caplog.text or "closed the connection" in caplog.text


# ---------------------------------------------------------------- a malformed VTS


def _reply(kind: str, data) -> Callable[[str], str]:
    return lambda request_id: json.dumps(
        {
            "apiName": "VTubeStudioPublicAPI",
            "apiVersion": "1.0",
            "requestID": request_id,
            "messageType": kind,
            "data": data,
        }
    )


MALFORMED = {  # request answered -> what comes back, as a malformed VTS (or a stranger) might send
    "error id not a number": ("InjectParameterDataRequest", _reply("APIError", {"errorID": "x", "message": "m"})),
    "error id a list": ("InjectParameterDataRequest", _reply("APIError", {"errorID": [1], "message": None})),
    "parameter list not a list": (
        "InputParameterListRequest",
        _reply("InputParameterListResponse", {"defaultParameters": 5}),
    ),
    "parameter name a list": (
        "InputParameterListRequest",
        _reply("InputParameterListResponse", {"defaultParameters": [{"name": ["FaceAngleX"]}]}),
    ),
    "nested too deeply": ("InjectParameterDataRequest", lambda request_id: "[" * 200_000),
    "a 3 MB error text": (
        "InjectParameterDataRequest",
        _reply("APIError", {"errorID": 451, "message": "x\n" * 1_500_000}),
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_reply_is_logged_and_the_plugin_goes_on(tmp_path, frames, caplog, case):
    """Each of these killed the plugin's task before: the process ran on, sent nothing and
    said nothing. Now the reply is logged (one short line) and the plugin recovers once VTS
    answers properly again."""
    caplog.set_level(logging.INFO, "live2d_pose")
    kind, reply = MALFORMED[case]

    async def body():
        async with VtsStandIn() as standin:
            standin.hostile[kind] = reply
            output = plugin(standin.url, tmp_path)
            await output.start()
            feeding = asyncio.create_task(feed(output, frames[40:] * 3))
            # it goes on: injecting (a parameter list it cannot read counts as none: the
            # documented defaults are sent), or asking again (after the request's timeout)
            await wait_until(
                lambda: standin.injections or sum(r["messageType"] == kind for r in standin.requests) >= 2,
                what=f"{kind} asked again after the malformed reply",
            )
            assert not output.task.done()
            del standin.hostile[kind]
            await wait_until(lambda: standin.injections, what="injections once VTS answers properly")
            feeding.cancel()
            await output.stop()
            return standin, output

    standin, output = run(body())
    assert output.task.restarts == 0  # handled where it came in, not by the task's supervisor
    assert standin.token_requests == 1
    assert max(len(r.getMessage()) for r in caplog.records) < 1000


def test_no_reply_makes_vts_ask_the_user_again_and_again(tmp_path, frames, monkeypatch):
    """A reply over 4 MiB to the token request closes the connection (1009): before, every
    reconnect asked for a token again, so VTS showed its popup every second."""
    monkeypatch.setattr(vts, "DENIED_RETRY_MIN", 30.0)
    monkeypatch.setattr(vts, "DENIED_RETRY_MAX", 600.0)

    async def body():
        async with VtsStandIn() as standin:
            standin.hostile["AuthenticationTokenRequest"] = lambda request_id: " " * (5 << 20)
            output = plugin(standin.url, tmp_path)
            await output.start()
            await feed(output, frames[40:100])  # 2 s
            await output.stop()
            return standin, output

    standin, output = run(body())
    assert standin.token_requests == 1
    assert output.counters["connects"] >= 2  # it did reconnect, and asked nothing


def test_an_unforeseen_error_is_logged_and_the_plugin_starts_again(tmp_path, frames, caplog, monkeypatch):
    """The task's supervisor (aio.SupervisedTask): a bug nobody caught is logged with its
    traceback and the connection task starts again."""
    caplog.set_level(logging.INFO, "live2d_pose")
    calls = []
    learn = vts.VtsOutput._learn_parameters

    async def fails_once(self):
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("a bug")
        await learn(self)

    monkeypatch.setattr(vts.VtsOutput, "_learn_parameters", fails_once)

    async def body():
        async with VtsStandIn() as standin:
            output = plugin(standin.url, tmp_path)
            await output.start()
            feeding = asyncio.create_task(feed(output, frames[40:] * 3))
            await wait_until(lambda: standin.injections, what="injections after the restart")
            feeding.cancel()
            await output.stop()
            return output

    output = run(body())
    assert output.task.restarts == 1
    assert "the VTube Studio connection failed; starting it again" in caplog.text
    assert "KeyError: 'a bug'" in caplog.text  # with its traceback
