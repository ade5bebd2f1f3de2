"""The gateway's /ws as a source of motion, for outputs that run anywhere.

An output subscribes exactly like a browser viewer (docs/protocol.md,
"Gateway -> browser"): it gets the motion the gateway's rig solved for the
stream, mirrored or not, and only retargets it. It can run on the streamer's
PC, far from the pipeline. The connection is kept up: when the gateway goes
away the source says so once and reconnects with a growing delay, which
starts over only after a connection that delivered motion or lasted (so a
gateway that accepts and drops at once is not retried twice a second). A
stream asked for that is not live is said once, with the live ones, and the
source asks again quietly. Whatever the gateway sends, nothing it says ends
the process: a malformed message is counted and logged, a peer's text is cut
to size before it reaches a log line, and an error nobody foresaw is logged
with its traceback and the source reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit, urlunsplit, parse_qsl

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from live2d_pose import aio, wire
from live2d_pose.outputs.peer import json_object, shown
from live2d_pose.rig.motion import Motion, MotionState

log = logging.getLogger("live2d_pose.outputs.source")

RECONNECT_MIN = 0.5  # seconds
RECONNECT_MAX = 10.0
# A connection that delivered motion, or stayed up this long, was a working one: the next
# reconnect is quick again. A shorter one (accepted and dropped, or refused) keeps doubling the delay.
STEADY_AFTER = 10.0  # seconds
MAX_MESSAGE = 1 << 20  # a full motion message is ~2 KiB
MAX_LISTED_STREAMS = 10  # live streams named in the "not live" line


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

    def __init__(self, url: str, on_motion: Callable[[Motion], None], on_control: Callable[[dict], None] | None = None):
        self.url = url
        self.on_motion = on_motion
        self.on_control = on_control or (lambda message: None)
        self.counters = {"motions": 0, "bad_messages": 0, "connects": 0, "disconnects": 0, "errors": 0}
        self.connected = False
        self.held = MotionState()
        self.wanted = dict(parse_qsl(urlsplit(url).query)).get("stream", "")
        self.delay = RECONNECT_MIN  # before the next reconnect
        self.live: list[str] = []  # the streams the gateway's hello listed, on this connection
        self.refusal: str | None = None  # the error code the gateway sent on this connection
        self._refusal_said: str | None = None  # the last refusal logged (a repeated one is not)
        self._failures = 0  # connection attempts in a row that did not reach the gateway

    async def run(self, stopping: asyncio.Event) -> None:
        """Connect, read, reconnect, until ``stopping``; only a bad URL ends it (SystemExit)."""
        while not stopping.is_set():
            started, motions = time.monotonic(), self.counters["motions"]
            await self._connect_once(stopping)
            if self.counters["motions"] > motions or time.monotonic() - started >= STEADY_AFTER:
                self.delay = RECONNECT_MIN
            if not stopping.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopping.wait(), self.delay)
                self.delay = min(self.delay * 2, RECONNECT_MAX)

    async def _connect_once(self, stopping: asyncio.Event) -> None:
        """One connection, from connecting until it ends (or ``stopping``), and what it ended with."""
        self.refusal = None
        try:
            async with connect(
                self.url, max_size=MAX_MESSAGE, open_timeout=10, close_timeout=2, compression=None
            ) as websocket:
                self._on_connect()
                if await self._read(websocket, stopping):
                    self._on_close(_closed_reason(websocket))
        except InvalidURI as exc:
            raise SystemExit(f"bad gateway URL {self.url!r}: {exc}") from None
        except (OSError, InvalidHandshake, ConnectionClosed, asyncio.TimeoutError) as exc:
            if self.connected:
                self._on_close(_why(exc))
            else:
                self._unreachable(exc)
        except Exception:  # a bug, or a message nobody foresaw: never the end of the process
            self.counters["errors"] += 1
            log.exception("reading the gateway at %s failed; reconnecting", _redact(self.url))
        finally:
            self.connected = False

    def _on_connect(self) -> None:
        self.connected = True
        self.held = MotionState()  # a new connection starts with a full message
        self.live = []
        self.counters["connects"] += 1
        self._failures = 0
        quietly = self._refusal_said is not None  # asking again after a refusal already said
        log.log(logging.DEBUG if quietly else logging.INFO, "connected to the gateway at %s", _redact(self.url))

    def _on_close(self, why: str) -> None:
        self.counters["disconnects"] += 1
        self.connected = False
        if self.refusal == "no_stream":
            self._not_live()
        elif self.refusal is not None:  # said when it came
            log.debug("the gateway closed the connection (%s); reconnecting", why)
        else:
            log.warning("lost the gateway at %s (%s); reconnecting", _redact(self.url), why)

    def _not_live(self) -> None:
        """The gateway closed us because the stream we asked for is not live: said once (with
        the live ones), then the source asks again quietly until motion comes."""
        if self._refusal_said == "no_stream":
            log.debug("stream %s still not live; asking again", shown(self.wanted))
            return
        self._refusal_said = "no_stream"
        live = ", ".join(self.live[:MAX_LISTED_STREAMS]) or "none"
        if len(self.live) > MAX_LISTED_STREAMS:
            live += f" and {len(self.live) - MAX_LISTED_STREAMS} more"
        log.warning(
            "stream %s is not live on the gateway (live now: %s); waiting for it, asking again every %.0f s at most",
            shown(self.wanted),
            shown(live),
            RECONNECT_MAX,
        )

    def _unreachable(self, exc: BaseException) -> None:
        self._failures += 1
        if self._failures == 1 or self._failures % 10 == 0:
            log.warning(
                "cannot reach the gateway at %s (%s); retrying every %.0f s at most (is `live2d-pose up` running?)",
                _redact(self.url),
                _why(exc),
                RECONNECT_MAX,
            )

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
            await aio.cancel_and_wait(reader, stopper)

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
            self._refusal_said = None  # motion flows: the next refusal is news
            self.on_motion(motion)

    def _on_text(self, message: str) -> None:
        control = json_object(message)
        if control is None:
            self._bad("a text message that is not a JSON object")
            return
        kind = control.get("type")
        if kind == "hello":
            self._on_hello(control)
        elif kind == "error":
            self._on_refusal(control)
        self.on_control(control)

    def _on_hello(self, hello: dict) -> None:
        streams = hello.get("streams")
        entries = streams if isinstance(streams, list) else []
        self.live = [s["stream"] for s in entries if isinstance(s, dict) and isinstance(s.get("stream"), str)]

    def _on_refusal(self, error: dict) -> None:
        """The gateway's error message (it closes the connection next): logged once, not on
        every reconnect while it keeps saying the same."""
        self.refusal = code = shown(error.get("code"))
        if code == "no_stream" or code == self._refusal_said:
            return  # no_stream: said at the close, with the live streams
        self._refusal_said = code
        log.error("the gateway refused us: %s (%s)", shown(error.get("message")), code)

    def _bad(self, why: object) -> None:
        self.counters["bad_messages"] += 1
        count = self.counters["bad_messages"]
        if count <= 10 or count % 1000 == 0:
            log.warning("ignored a malformed message from the gateway (%d so far): %s", count, shown(str(why)))


def _closed_reason(websocket) -> str:
    code, reason = websocket.close_code, websocket.close_reason
    return f"closed with {code} {shown(reason or '')}".strip() if code is not None else "connection dropped"


def _why(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        if exc.rcvd:
            return f"closed with {exc.rcvd.code} {shown(exc.rcvd.reason)}".strip()
        if exc.sent:  # a message over MAX_MESSAGE, say (1009)
            return f"we closed it with {exc.sent.code} {shown(exc.sent.reason)}".strip()
        return "connection dropped"
    return shown(str(exc) or exc.__class__.__name__)
