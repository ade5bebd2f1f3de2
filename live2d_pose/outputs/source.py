"""The gateway's /ws as a source of results, for outputs that run anywhere.

An output subscribes exactly like a browser viewer (docs/protocol.md,
"Gateway -> browser"): it can run on the streamer's PC, far from the
pipeline. The connection is kept up: when the gateway goes away the source
says so once and reconnects with a growing delay, and a malformed message is
counted and logged, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlencode, urlsplit, urlunsplit, parse_qsl

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from live2d_pose import wire

log = logging.getLogger("live2d_pose.outputs.source")

RECONNECT_MIN = 0.5  # seconds
RECONNECT_MAX = 10.0
MAX_MESSAGE = 1 << 22  # a result with faces, a pose and two hands is ~10 KiB


@dataclass
class Tracking:
    """One result from the gateway, decoded and checked.

    A tracker's list is None when the message does not report that tracker
    (absent from ``tracks``), and empty when it ran and found nothing.
    """

    stream: str
    seq: int
    ts: dict[str, float]
    width: int
    height: int
    faces: list[wire.Face] | None = None
    poses: list[wire.Pose] | None = None
    hands: list[wire.Hand] | None = None
    tracks: tuple[str, ...] = ()
    received_ms: float = 0.0  # wall clock, when this process read it


TRACKERS = (("face", "faces", wire.Face), ("pose", "poses", wire.Pose), ("hands", "hands", wire.Hand))


def parse_result(data: bytes, received_ms: float | None = None) -> Tracking:
    """A binary /ws message -> Tracking; wire.WireError when it is not a well-formed result."""
    obj = wire.unpack_map(data, "result")
    if obj.get("type") != "landmarks":
        raise wire.WireError(f"result: unknown type {obj.get('type')!r}")
    stream, seq, size = obj.get("stream"), obj.get("seq"), obj.get("imageSize")
    if not isinstance(stream, str) or not isinstance(seq, int) or isinstance(seq, bool):
        raise wire.WireError("result: 'stream' and 'seq' are required")
    if not isinstance(size, dict) or not all(isinstance(size.get(k), int) for k in ("width", "height")):
        raise wire.WireError("result: 'imageSize' must have integer width and height")
    ts = obj.get("ts") if isinstance(obj.get("ts"), dict) else {}
    # A gateway from before body tracking sends no "tracks": its results carry faces only.
    tracks = obj.get("tracks", ["face"])
    if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
        raise wire.WireError("result: 'tracks' must be a list of names")
    tracking = Tracking(
        stream=stream, seq=seq, width=size["width"], height=size["height"],
        ts={k: float(v) for k, v in ts.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
        tracks=tuple(tracks), received_ms=wire.now_ms() if received_ms is None else received_ms)
    for tracker, key, kind in TRACKERS:
        if tracker not in tracks:
            continue
        value = obj.get(key, [] if obj.get("error") else None)  # a failed frame may carry no lists
        if not isinstance(value, list):
            raise wire.WireError(f"result: {key!r} must be a list")
        items = [kind.from_wire(item) for item in value]
        for item in items:
            _require_finite(item, key)
        setattr(tracking, key, items)
    return tracking


def _require_finite(item, what: str) -> None:
    arrays = [item.landmarks] + [getattr(item, a) for a in ("blendshapes", "matrix", "world") if hasattr(item, a)]
    if not all(np.isfinite(a).all() for a in arrays):
        raise wire.WireError(f"result: {what} with a non-finite number")


def viewer_url(gateway_url: str, stream: str = "", token: str = "") -> str:
    """The gateway's /ws URL with ?stream= and ?token= added (existing query kept)."""
    parts = urlsplit(gateway_url)
    query = dict(parse_qsl(parts.query))
    if stream:
        query["stream"] = stream
    if token:
        query["token"] = token
    return urlunsplit(parts._replace(query=urlencode(query)))


def _redact(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, "***" if k == "token" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class GatewaySource:
    """Reads results from the gateway and hands each to ``on_result`` (called on the event loop).

    ``on_control`` gets the text messages (hello, stream, ended, error) as dicts.
    """

    def __init__(self, url: str, on_result: Callable[[Tracking], None],
                 on_control: Callable[[dict], None] | None = None):
        self.url = url
        self.on_result = on_result
        self.on_control = on_control or (lambda message: None)
        self.counters = {"results": 0, "bad_messages": 0, "connects": 0, "disconnects": 0}
        self.connected = False

    async def run(self, stopping: asyncio.Event) -> None:
        delay = RECONNECT_MIN
        failures = 0
        while not stopping.is_set():
            try:
                async with connect(self.url, max_size=MAX_MESSAGE, open_timeout=10,
                                   close_timeout=2, compression=None) as websocket:
                    self.connected = True
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
            tracking = parse_result(message)
        except wire.WireError as exc:
            self._bad(exc)
            return
        self.counters["results"] += 1
        self.on_result(tracking)

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
