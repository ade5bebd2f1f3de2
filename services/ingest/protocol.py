"""The camera side of the wire: the origin project's handshake and its checks.

Pure functions and a small state object, no I/O: the server feeds messages in
and sends out what comes back. Each rejection carries a machine-readable
``code`` for the camera and, when the connection cannot go on, a WebSocket
close code (1003 wrong data, 1008 policy, 1009 too big, 1013 try later).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from live2d_pose.aio import CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_TRY_LATER, CLOSE_WRONG_DATA  # noqa: F401 (re-exported)
from live2d_pose.imageinfo import DEFAULT_MAX_SCAN_PIXELS, ImageError, ImageInfo, check_limits, inspect
from live2d_pose.service import ClientError, check_stream_id, parse_query
from live2d_pose.trackers import parse_tracks

CAMERA_PATHS = ("/image", "/")
# Application close codes (RFC 6455 leaves 4000-4999 to applications); docs/protocol.md lists them.
CLOSE_REPLACED = 4000  # another connection took over this stream id: back off, do not flap
MAX_CONSECUTIVE_BAD_FRAMES = 30


@dataclass(frozen=True)
class CameraRequest:
    stream: str | None
    token: str
    track: tuple[str, ...] | None = None  # track=face,pose,hands; None: ingest's --track


def parse_request_path(path: str) -> CameraRequest:
    """The camera's URL path and query (``/image?stream=NAME&token=SECRET``)."""
    route = path.partition("?")[0]
    if route not in CAMERA_PATHS:
        raise ClientError("unknown_path", f"unknown path {route!r}; cameras connect to /image")
    params = parse_query(path)
    stream = params.get("stream")
    if stream is not None:
        check_stream_id(stream)
    track = params.get("track")
    return CameraRequest(
        stream=stream, token=params.get("token", ""), track=check_track(track) if track is not None else None
    )


def check_track(text: str) -> tuple[str, ...]:
    """``face,pose,hands`` (any subset) -> the tracker names; bad_track otherwise."""
    try:
        return parse_tracks(text)
    except ValueError as exc:
        raise ClientError("bad_track", f"track=: {exc}", CLOSE_POLICY) from None


def new_stream_id() -> str:
    return "cam-" + secrets.token_hex(3)


def parse_image_size(text: str, max_text_bytes: int, max_pixels: int) -> tuple[int, int]:
    """The camera's ``{"imageSize": {"width": W, "height": H}}`` message."""
    # Bytes, as the flag says: a character may take up to 4 (the first test skips encoding floods).
    if len(text) > max_text_bytes or len(text.encode()) > max_text_bytes:
        raise ClientError("text_too_large", f"text messages are limited to {max_text_bytes} bytes", CLOSE_TOO_BIG)
    try:
        message = json.loads(text)
    except ValueError:
        raise ClientError("bad_json", "text message is not JSON") from None
    except RecursionError:  # "[[[[..." nested deeper than the parser's stack
        raise ClientError("bad_json", "text message nests too deeply") from None
    size = message.get("imageSize") if isinstance(message, dict) else None
    if not isinstance(size, dict):
        raise ClientError("bad_message", 'expected {"imageSize": {"width": W, "height": H}}')
    width, height = size.get("width"), size.get("height")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
        raise ClientError("bad_message", "imageSize width and height must be positive integers")
    if width * height > max_pixels:
        raise ClientError(
            "image_too_large", f"imageSize {width}x{height} is over the limit of {max_pixels} pixels", CLOSE_TOO_BIG
        )
    return width, height


# Decompression bombs close the connection: no honest camera sends one by accident.
_BOMB_CODES = ("image_too_large", "image_too_complex")


def check_frame(
    data: bytes, max_frame_bytes: int, max_pixels: int, max_scan_pixels: int = DEFAULT_MAX_SCAN_PIXELS
) -> ImageInfo:
    """A binary frame: size in bytes, format, pixel count, decode passes. Decoding is the worker's job."""
    if len(data) > max_frame_bytes:
        raise ClientError(
            "frame_too_large", f"frame is {len(data)} bytes; the limit is {max_frame_bytes}", CLOSE_TOO_BIG
        )
    try:
        info = inspect(data)
        check_limits(info, max_pixels, max_scan_pixels)
    except ImageError as exc:
        close = CLOSE_TOO_BIG if exc.code in _BOMB_CODES else None
        raise ClientError(exc.code, str(exc), close) from None
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
            raise ClientError("too_many_bad_frames", f"{self.limit} bad frames in a row; closing", CLOSE_WRONG_DATA)
