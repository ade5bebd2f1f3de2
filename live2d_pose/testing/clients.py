"""Protocol clients for tests and the benchmark: a camera and a viewer.

The camera speaks the origin project's protocol exactly (initialized ->
imageSize -> ok -> ready -> binary frames); the viewer decodes the gateway's
msgpack messages: raw landmarks by default, the rig's motion when asked.
Both are small asyncio classes over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import msgpack
import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from live2d_pose import wire
from live2d_pose.trackers import TrackerLists

TIMEOUT = 30.0  # generous: CI machines are slow; every wait in the tests derives from this


class ProtocolError(AssertionError):
    pass


class Refused(ProtocolError):
    """Ingest refused the camera during the handshake (``code``: busy, too_many_streams ...)."""

    def __init__(self, message: dict, close_code: int | None):
        super().__init__(f"refused: {message.get('code')} ({message.get('message')}), close {close_code}")
        self.code = message.get("code")
        self.close_code = close_code


async def recv_json(websocket: ClientConnection, timeout: float = TIMEOUT) -> dict:
    message = await asyncio.wait_for(websocket.recv(), timeout)
    if not isinstance(message, str):
        raise ProtocolError(f"expected a text message, got {len(message)} bytes")
    return json.loads(message)


class Camera:
    """A camera client: ``async with Camera(url) as cam: await cam.send(jpeg)``."""

    def __init__(self, url: str, width: int = 640, height: int = 480, **connect_options):
        self.url = url
        self.width = width
        self.height = height
        self.connect_options = {"max_size": None, "open_timeout": TIMEOUT, **connect_options}  # e.g. pings
        self.websocket: ClientConnection | None = None
        self.stream: str | None = None
        self.viewer: str | None = None
        self.messages: list[dict] = []  # text messages received after ready (errors)
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> Camera:
        self.websocket = await connect(self.url, **self.connect_options)
        await self._expect("initialized")
        await self.websocket.send(json.dumps({"imageSize": {"width": self.width, "height": self.height}}))
        await self._expect("ok")
        ready = await self._expect("ready")
        self.stream, self.viewer = ready["stream"], ready["viewer"]
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader:
            self._reader.cancel()
        await self.websocket.close()

    async def _expect(self, kind: str) -> dict:
        message = await recv_json(self.websocket)
        if message.get("type") == "error":
            await asyncio.wait_for(self.websocket.wait_closed(), TIMEOUT)
            raise Refused(message, self.websocket.close_code)
        assert message.get("type") == kind, message
        return message

    async def _read(self) -> None:
        async for message in self.websocket:
            if isinstance(message, str):
                self.messages.append(json.loads(message))

    async def send(self, frame: bytes | str) -> None:
        await self.websocket.send(frame)

    async def stream_frames(
        self, frames: list[bytes], fps: float, duration: float | None = None, count: int | None = None
    ) -> int:
        """Send frames in a loop at ``fps`` (0: as fast as the socket takes them).

        Stops after ``count`` frames or ``duration`` seconds; with neither, after one pass.
        """
        if count is None and duration is None:
            count = len(frames)
        sent, start = 0, time.monotonic()
        while (count is None or sent < count) and (duration is None or time.monotonic() - start < duration):
            await self.send(frames[sent % len(frames)])
            sent += 1
            if fps > 0:
                await asyncio.sleep(max(0.0, start + sent / fps - time.monotonic()))
            else:
                await asyncio.sleep(0)
        return sent

    async def wait_for_error(self, code: str, timeout: float = TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if message.get("type") == "error" and message.get("code") == code:
                    return message
            await asyncio.sleep(0.02)
        raise AssertionError(f"no error {code!r} within {timeout} s; got {self.messages}")


@dataclass(slots=True)
class ViewerResult(TrackerLists):
    """A landmarks message as a viewer gets it, decoded by the one decoder of results
    (wire.Result.decode, then the rig's typed and checked lists: rig.results.from_result).
    Each tracker's items read as ``r.faces``, ``r.poses``, ``r.hands`` (wire.Face, Pose,
    Hand); a tracker the message does not report reads as []."""

    stream: str
    seq: int
    width: int
    height: int
    ts: dict
    found: dict[str, list]
    error: dict | None
    received_ms: float
    tracks: tuple[str, ...]
    session: int = 0
    worker: str = ""

    def unreported(self) -> list:
        return []

    @property
    def landmarks(self) -> np.ndarray:
        """The first face's landmarks, (478, 3)."""
        return self.faces[0].landmarks

    @property
    def track(self) -> str:
        """The tracker of a one-tracker message (what a landmarker sends)."""
        return self.tracks[0]


def decode_result(data: bytes, received_ms: float) -> ViewerResult:
    from live2d_pose.rig.results import from_result

    result = wire.Result.decode(data, any_stream=True)
    tracking = from_result(result, received_ms)
    return ViewerResult(
        result.stream,
        result.seq,
        result.width,
        result.height,
        result.ts,
        tracking.found,
        result.error,
        received_ms,
        result.tracks,
        result.session,
        result.worker,
    )


@dataclass
class Viewer:
    """A viewer client collecting results and control messages in the background.

    It subscribes to raw landmarks (``results``) and, with ``motion=True``, to
    the rig's motion messages too (``motions``: the whole Motion after each,
    as a reader holds it; ``motion_bytes``: each message's size). A URL that
    says ``motion=`` or ``landmarks=`` itself is taken as it is.
    """

    url: str
    motion: bool = False
    results: list[ViewerResult] = field(default_factory=list)
    controls: list[dict] = field(default_factory=list)
    motions: list = field(default_factory=list)
    motion_bytes: list[int] = field(default_factory=list)
    websocket: ClientConnection | None = None
    _reader: asyncio.Task | None = None

    async def __aenter__(self) -> Viewer:
        from live2d_pose.rig.motion import MotionState

        self._held = MotionState()
        url = self.url
        if "motion=" not in url and "landmarks=" not in url:
            url += ("&" if "?" in url else "?") + f"landmarks=1&motion={int(self.motion)}"
        self.websocket = await connect(url, max_size=None, open_timeout=TIMEOUT)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        await self.websocket.close()

    async def _read(self) -> None:
        async for message in self.websocket:
            if isinstance(message, bytes) and msgpack.unpackb(message, raw=False).get("type") == "motion":
                self.motion_bytes.append(len(message))
                self.motions.append(self._held.apply(message))
            elif isinstance(message, bytes):
                self.results.append(decode_result(message, time.time() * 1000))
            else:
                self.controls.append(json.loads(message))

    async def wait_for_results(
        self, count: int, timeout: float = TIMEOUT, stream: str | None = None, track: str | None = None
    ) -> list[ViewerResult]:
        """Until ``count`` results (of ``stream``, of ``track`` when given) have come."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            matching = [
                r
                for r in self.results
                if (stream is None or r.stream == stream) and (track is None or track in r.tracks)
            ]
            if len(matching) >= count:
                return matching
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"only {len(self.results)} results within {timeout} s "
            f"(wanted {count} of stream {stream}, track {track}); controls: {self.controls}"
        )
