"""The gateway's /ws as a source of motion, for outputs that run anywhere.

An output subscribes exactly like a browser viewer (docs/protocol.md,
"Gateway -> browser"): it gets the motion the gateway's rig solved for the
stream, mirrored or not, and only retargets it. It can run on the streamer's
PC, far from the pipeline. The connection is kept up: when the gateway goes
away the source says so once and reconnects with a growing delay, and a
malformed message is counted and logged, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Callable
from urllib.parse import urlencode, urlsplit, urlunsplit, parse_qsl

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from live2d_pose import wire
from live2d_pose.rig.motion import Motion, MotionState

log = logging.getLogger("live2d_pose.outputs.source")

RECONNECT_MIN = 0.5  # seconds
RECONNECT_MAX = 10.0
MAX_MESSAGE = 1 << 20  # a full motion message is ~2 KiB


def viewer_url(gateway_url: str, stream: str = "", token: str = "", mirror: bool = True) -> str:
    """The gateway's /ws URL with ?stream=, ?token= and (unmirrored) ?mirror=0 added (existing query kept)."""
    parts = urlsplit(gateway_url)
    query = dict(parse_qsl(parts.query))
    if stream:
        query["stream"] = stream
    if token:
        query["token"] = token
    if not mirror:
        query["mirror"] = "0"
    return urlunsplit(parts._replace(query=urlencode(query)))


def _redact(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, "***" if k == "token" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class GatewaySource:
    """Reads motion from the gateway and hands the whole current Motion to ``on_motion`` after each
    message (called on the event loop).

    ``on_control`` gets the text messages (hello, stream, ended, error) as dicts.
    """

    def __init__(self, url: str, on_motion: Callable[[Motion], None],
                 on_control: Callable[[dict], None] | None = None):
        self.url = url
        self.on_motion = on_motion
        self.on_control = on_control or (lambda message: None)
        self.counters = {"motions": 0, "bad_messages": 0, "connects": 0, "disconnects": 0}
        self.connected = False
        self.held = MotionState()

    async def run(self, stopping: asyncio.Event) -> None:
        delay = RECONNECT_MIN
        failures = 0
        while not stopping.is_set():
            try:
                async with connect(self.url, max_size=MAX_MESSAGE, open_timeout=10,
                                   close_timeout=2, compression=None) as websocket:
                    self.connected = True
                    self.held = MotionState()  # a new connection starts with a full message
                    self.counters["connects"] += 1
                    log.info("connected to the gateway at %s", _redact(self.url))
                    delay, failures = RECONNECT_MIN, 0
                    if await self._read(websocket, stopping):
                        self._lost(_closed_reason(websocket))
            except InvalidURI as exc:
                raise SystemExit(f"bad gateway URL {self.url!r}: {exc}") from None
            except (OSError, InvalidHandshake, ConnectionClosed, asyncio.TimeoutError) as exc:
                if self.connected:
                    self._lost(_why(exc))
                else:
                    failures += 1
                    if failures == 1 or failures % 10 == 0:
                        log.warning("cannot reach the gateway at %s (%s); retrying every %.0f s at most "
                                    "(is `live2d-pose up` running?)", _redact(self.url), _why(exc),
                                    RECONNECT_MAX)
            finally:
                self.connected = False
            if not stopping.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)
                delay = min(delay * 2, RECONNECT_MAX)

    def _lost(self, why: str) -> None:
        self.counters["disconnects"] += 1
        self.connected = False
        log.warning("lost the gateway at %s (%s); reconnecting", _redact(self.url), why)

    async def _read(self, websocket, stopping: asyncio.Event) -> bool:
        """Read until the connection ends (True) or ``stopping`` is set (False)."""
        reader = asyncio.ensure_future(self._messages(websocket))
        stopper = asyncio.ensure_future(stopping.wait())
        try:
            done, _ = await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                reader.result()  # re-raises an abnormal close
                return True
            return False
        finally:
            for task in (reader, stopper):
                task.cancel()
            await asyncio.gather(reader, stopper, return_exceptions=True)

    async def _messages(self, websocket) -> None:
        async for message in websocket:
            if isinstance(message, bytes):
                self._on_binary(message)
            else:
                self._on_text(message)

    def _on_binary(self, message: bytes) -> None:
        try:
            motion = self.held.apply(message)
        except wire.WireError as exc:
            self._bad(exc)
            return
        if motion is not None:
            self.counters["motions"] += 1
            self.on_motion(motion)

    def _on_text(self, message: str) -> None:
        try:
            control = json.loads(message)
        except ValueError:
            self._bad("a text message that is not JSON")
            return
        if not isinstance(control, dict):
            self._bad("a text message that is not a JSON object")
            return
        if control.get("type") == "error":
            log.error("the gateway refused us: %s (%s)", control.get("message"), control.get("code"))
        self.on_control(control)

    def _bad(self, why: object) -> None:
        self.counters["bad_messages"] += 1
        count = self.counters["bad_messages"]
        if count <= 10 or count % 1000 == 0:
            log.warning("ignored a malformed message from the gateway (%d so far): %s", count, why)


def _closed_reason(websocket) -> str:
    code, reason = websocket.close_code, websocket.close_reason
    return f"closed with {code} {reason or ''}".strip() if code is not None else "connection dropped"


def _why(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        rcvd = exc.rcvd
        return f"closed with {rcvd.code} {rcvd.reason}".strip() if rcvd else "connection dropped"
    return str(exc) or exc.__class__.__name__
