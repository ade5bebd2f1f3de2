"""The camera side of the wire: the origin project's handshake and its checks.

Pure functions and a small state object, no I/O: the server feeds messages in
and sends out what comes back. Each rejection carries a machine-readable
``code`` for the camera and, when the connection cannot go on, a WebSocket
close code (1003 wrong data, 1008 policy, 1009 too big, 1013 try later).
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs

from live2d_pose.imageinfo import ImageError, ImageInfo, check_limits, inspect
from live2d_pose.wire import MAX_STREAM_ID_LENGTH, parse_tracks

CAMERA_PATHS = ("/image", "/")
from live2d_pose.aio import CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_TRY_LATER, CLOSE_WRONG_DATA  # noqa: F401
# Application close codes (RFC 6455 leaves 4000-4999 to applications); docs/protocol.md lists them.
CLOSE_REPLACED = 4000  # another connection took over this stream id: back off, do not flap
MAX_CONSECUTIVE_BAD_FRAMES = 30
_STREAM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class CameraError(Exception):
    def __init__(self, code: str, message: str, close_code: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code

    def to_message(self) -> str:
        return json.dumps({"type": "error", "code": self.code, "message": self.message})


@dataclass(frozen=True)
class CameraRequest:
    stream: str | None
    token: str
    track: tuple[str, ...] | None = None  # track=face,pose,hands; None: ingest's --track


def parse_request_path(path: str) -> CameraRequest:
    """The camera's URL path and query (``/image?stream=NAME&token=SECRET``)."""
    route, _, query = path.partition("?")
    if route not in CAMERA_PATHS:
        raise CameraError("unknown_path", f"unknown path {route!r}; cameras connect to /image")
    try:
        params = parse_qs(query, max_num_fields=16)
    except ValueError:  # more than 16 fields
        raise CameraError("bad_query", "too many query parameters", CLOSE_POLICY) from None
    stream = params.get("stream", [None])[0]
    if stream is not None:
        check_stream_id(stream)
    track = params.get("track", [None])[0]
    return CameraRequest(stream=stream, token=params.get("token", [""])[0],
                         track=check_track(track) if track is not None else None)


def check_track(text: str) -> tuple[str, ...]:
    """``face,pose,hands`` (any subset) -> the tracker names; bad_track otherwise."""
    try:
        return parse_tracks(text)
    except ValueError as exc:
        raise CameraError("bad_track", f"track=: {exc}", CLOSE_POLICY) from None


def check_stream_id(stream: str) -> str:
    if len(stream) > MAX_STREAM_ID_LENGTH or not _STREAM_ID.fullmatch(stream):  # "$" allows "\n"
        raise CameraError("bad_stream_id", "stream ids are 1-64 letters, digits, '.', '_' or '-'",
                          CLOSE_POLICY)
    return stream


def new_stream_id() -> str:
    return "cam-" + secrets.token_hex(3)


def check_token(given: str, expected: str) -> None:
    """Constant-time comparison, so the token cannot be guessed byte by byte."""
    if expected and not hmac.compare_digest(given.encode(), expected.encode()):
        raise CameraError("unauthorized", "missing or wrong camera token", CLOSE_POLICY)


def parse_image_size(text: str, max_text_bytes: int, max_pixels: int) -> tuple[int, int]:
    """The camera's ``{"imageSize": {"width": W, "height": H}}`` message."""
    if len(text) > max_text_bytes:
        raise CameraError("text_too_large", f"text messages are limited to {max_text_bytes} bytes",
                          CLOSE_TOO_BIG)
    try:
        message = json.loads(text)
    except ValueError:
        raise CameraError("bad_json", "text message is not JSON") from None
    size = message.get("imageSize") if isinstance(message, dict) else None
    if not isinstance(size, dict):
        raise CameraError("bad_message", 'expected {"imageSize": {"width": W, "height": H}}')
    width, height = size.get("width"), size.get("height")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
        raise CameraError("bad_message", "imageSize width and height must be positive integers")
    if width * height > max_pixels:
        raise CameraError("image_too_large", f"imageSize {width}x{height} is over the limit of "
                          f"{max_pixels} pixels", CLOSE_TOO_BIG)
    return width, height


def check_frame(data: bytes, max_frame_bytes: int, max_pixels: int) -> ImageInfo:
    """A binary frame: size in bytes, format, pixel count. Decoding is the worker's job."""
    if len(data) > max_frame_bytes:
        raise CameraError("frame_too_large", f"frame is {len(data)} bytes; the limit is "
                          f"{max_frame_bytes}", CLOSE_TOO_BIG)
    try:
        info = inspect(data)
        check_limits(info, max_pixels)
    except ImageError as exc:
        close = CLOSE_TOO_BIG if exc.code == "image_too_large" else None
        raise CameraError(exc.code, str(exc), close) from None
    return info


class BadFrameCounter:
    """Closes a camera that sends nothing but garbage, and forgives the odd bad frame."""

    def __init__(self, limit: int = MAX_CONSECUTIVE_BAD_FRAMES):
        self.limit = limit
        self.consecutive = 0

    def good(self) -> None:
        self.consecutive = 0

    def bad(self) -> None:
        self.consecutive += 1
        if self.consecutive >= self.limit:
            raise CameraError("too_many_bad_frames",
                              f"{self.limit} bad frames in a row; closing", CLOSE_WRONG_DATA)
