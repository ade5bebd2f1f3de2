"""Image decoding in a helper process, so a decode that runs over its deadline can be stopped.

A crafted JPEG can pass every header check and still take seconds to decode: a
progressive file that declares 3840x2160 and carries ~1500 refinement scans
keeps ``cv2.imdecode`` busy for 16-22 s of one core (measured on the 2-core
machine, docs/reliability.md). OpenCV releases the GIL while it decodes, so a
decode thread would not stop the worker's heartbeats; but a thread cannot be
stopped either: the core stays burnt, and when one frame reaches two workers
(two lanes of one stream) both are gone for the whole decode. A process can be
killed. So each landmarker decodes in a small helper (OpenCV and numpy only):

- the worker writes the encoded frame to the helper's stdin (4-byte length,
  then the bytes); the helper checks the header limits, decodes to RGB into a
  shared memory buffer both map, and answers on stdout: ``b"K"`` + height and
  width (uint32), or ``b"E"`` + an error code and message (length-prefixed);
- past ``timeout`` seconds the worker kills the helper, the frame gets error
  ``decode_timeout``, and a spare helper (started ahead of time) takes over at
  once; a new spare starts in the background;
- a helper that crashes (a decoder bug on a malicious file) costs that frame a
  ``decode_failed``, not the worker.

Decode cost is capped by pixels before decoding: a frame over ``target_pixels``
(``--decode-max-pixels``, 1920x1080) is decoded at 1/2, 1/4 or 1/8 scale, the
first that fits, chosen from its header. For a JPEG that is libjpeg's DCT
scaling, so it costs a fraction of a full decode (a 3840x2160 frame: 10 ms at
1/2 against 33 ms), and MediaPipe scales every image down to its models' 128-256
pixel inputs anyway. Results report the frame's own size, landmarks are
normalised to it.

The exchange is raw bytes over pipes (no pickle); the image never crosses a
pipe, only the shared buffer. The worker keeps a view of the last decode, which
the next decode overwrites (one decode at a time, from the inference thread).
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

from live2d_pose.imageinfo import DEFAULT_MAX_SCAN_PIXELS, ImageError, check_limits, inspect
from live2d_pose.landmarker import mediapipe_metrics

log = logging.getLogger("live2d_pose.landmarker")

START_TIMEOUT = 30.0  # a helper imports OpenCV: slow on a busy machine, still bounded
_HEADER = struct.Struct("<IIII")  # decoded height, width; the frame's own height, width
SCALES = (1, 2, 4, 8)  # what OpenCV's IMREAD_REDUCED_* decode at


class _Helper:
    """One decode process, started ahead of use."""

    def __init__(self, buffer_fd: int, buffer_size: int, max_pixels: int, max_scan_pixels: int, target_pixels: int):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "live2d_pose.landmarker.decoder",
                str(buffer_fd),
                str(buffer_size),
                str(max_pixels),
                str(max_scan_pixels),
                str(target_pixels),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=(buffer_fd,),
            bufsize=0,
            env=mediapipe_metrics.child_environment(),
        )
        self.ready = False

    def wait_ready(self, timeout: float) -> None:
        if not self.ready:
            if _read_exactly(self.process.stdout, 1, time.monotonic() + timeout) != b"R":
                raise OSError("the decode helper did not start")
            self.ready = True

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


class Decoder:
    """Decodes frames in a helper process with a deadline; one call at a time."""

    def __init__(
        self, max_pixels: int, timeout: float, max_scan_pixels: int = DEFAULT_MAX_SCAN_PIXELS, target_pixels: int = 0
    ):
        self.max_pixels = max_pixels
        self.max_scan_pixels = max_scan_pixels
        self.target_pixels = target_pixels
        self.timeout = timeout
        self.size = max_pixels * 3
        self._file = _shared_file(self.size)
        self._map = mmap.mmap(self._file.fileno(), self.size)
        self._helper = self._new_helper()
        self._spare = self._new_helper()
        self.timeouts = 0
        self.crashes = 0

    def wait_ready(self) -> None:
        """Until the helper can decode (it imports OpenCV): a worker says READY only then."""
        try:
            self._helper.wait_ready(START_TIMEOUT)
        except (OSError, EOFError, TimeoutError) as exc:
            log.warning("the decode helper did not start (%s); starting another", exc)
            self._replace()

    def decode(self, data: bytes | memoryview) -> tuple[np.ndarray, tuple[int, int]]:
        """(RGB uint8 (height, width, 3), a view valid until the next call; the frame's own
        (width, height), larger when it was decoded at a reduced scale). ImageError on failure."""
        deadline = time.monotonic() + self.timeout
        try:
            self._helper.wait_ready(START_TIMEOUT)
            deadline = time.monotonic() + self.timeout  # the helper's start-up is not the frame's fault
            _write_all(self._helper.process.stdin, struct.pack("<I", len(data)), data, deadline)
            status = _read_exactly(self._helper.process.stdout, 1, deadline)
            if status == b"K":
                height, width, frame_height, frame_width = _HEADER.unpack(
                    _read_exactly(self._helper.process.stdout, _HEADER.size, deadline)
                )
                rgb = np.frombuffer(self._map, np.uint8, height * width * 3).reshape(height, width, 3)
                return rgb, (frame_width, frame_height)
            code = _read_text(self._helper.process.stdout, deadline)
            message = _read_text(self._helper.process.stdout, deadline)
            raise ImageError(code, message)
        except TimeoutError:
            self.timeouts += 1
            self._replace()
            raise ImageError(
                "decode_timeout",
                f"decoding took longer than {self.timeout:g} s; the frame was dropped (a decompression bomb?)",
            ) from None
        except (OSError, EOFError) as exc:  # the helper died (a decoder crash) or never started
            self.crashes += 1
            log.warning("the decode helper failed (%s); starting another", exc)
            self._replace()
            raise ImageError("decode_failed", "the image could not be decoded (the decoder crashed on it)") from None

    def close(self) -> None:
        for helper in (self._helper, self._spare):
            helper.kill()
        with contextlib.suppress(BufferError):  # a caller still holds a view: freed with it
            self._map.close()
        self._file.close()

    def _replace(self) -> None:
        """Kill the current helper (it may still be decoding); the spare takes over."""
        self._helper.kill()
        self._helper, self._spare = self._spare, self._new_helper()

    def _new_helper(self) -> _Helper:
        return _Helper(self._file.fileno(), self.size, self.max_pixels, self.max_scan_pixels, self.target_pixels)


def _shared_file(size: int):
    """An anonymous file both processes map: memfd on Linux, an unlinked temporary file elsewhere."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("live2d-pose-decode", 0)
        os.ftruncate(fd, size)
        return os.fdopen(fd, "r+b", buffering=0)
    handle = tempfile.TemporaryFile()
    handle.truncate(size)
    return handle


def _wait(fd: int, events: int, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    poller = select.poll()
    poller.register(fd, events)
    if not poller.poll(remaining * 1000):
        raise TimeoutError


def _write_all(pipe, header: bytes, data: bytes | memoryview, deadline: float) -> None:
    fd = pipe.fileno()
    for part in (memoryview(header), memoryview(data).cast("B")):
        left = part
        while left:
            _wait(fd, select.POLLOUT, deadline)
            left = left[os.write(fd, left) :]


def _read_exactly(pipe, count: int, deadline: float) -> bytes:
    fd, out = pipe.fileno(), bytearray()
    while len(out) < count:
        _wait(fd, select.POLLIN, deadline)
        chunk = os.read(fd, count - len(out))
        if not chunk:
            raise EOFError("the decode helper closed its pipe")
        out += chunk
    return bytes(out)


def _read_text(pipe, deadline: float) -> str:
    (length,) = struct.unpack("<H", _read_exactly(pipe, 2, deadline))
    return _read_exactly(pipe, length, deadline).decode("utf-8", "replace")


# ---------------------------------------------------------------- the helper process


def decode_image(
    data: bytes | memoryview, max_pixels: int, max_scan_pixels: int = DEFAULT_MAX_SCAN_PIXELS, target_pixels: int = 0
) -> np.ndarray:
    """Encoded JPEG/PNG/WebP -> contiguous RGB uint8 array, at the first scale of SCALES
    whose pixels fit ``target_pixels`` (0: full size); ImageError if it is not an image."""
    import cv2

    info = inspect(data)
    check_limits(info, max_pixels, max_scan_pixels)  # before decoding: no decompression bombs
    scale = next((s for s in SCALES if info.pixels <= target_pixels * s * s), SCALES[-1]) if target_pixels else 1
    buffer = np.frombuffer(data, dtype=np.uint8)
    # IMREAD_REDUCED_GRAYSCALE_N holds just the scale's bits: with a colour flag it decodes colour
    reduced = {
        1: 0,
        2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
        4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
        8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
    }[scale]
    rgb_flag = getattr(cv2, "IMREAD_COLOR_RGB", None)  # straight to RGB where OpenCV can: one copy less
    if rgb_flag is not None:
        image = cv2.imdecode(buffer, rgb_flag | reduced)
    else:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR | reduced)
        image = None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image is None:
        raise ImageError("decode_failed", "the image could not be decoded (corrupt data)")
    return image


def _serve(buffer_fd: int, buffer_size: int, max_pixels: int, max_scan_pixels: int, target_pixels: int) -> None:
    shared = mmap.mmap(buffer_fd, buffer_size)
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    import cv2

    tiny = cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8))[1].tobytes()
    decode_image(tiny, max_pixels)  # OpenCV's first decode sets up its codecs: not on a frame's time
    answers.write(b"R")
    answers.flush()
    while (head := requests.read(4)) and len(head) == 4:
        (length,) = struct.unpack("<I", head)
        data = requests.read(length)
        try:
            rgb = decode_image(data, max_pixels, max_scan_pixels, target_pixels)
            height, width = rgb.shape[:2]
            info = inspect(data)
            shared[: rgb.nbytes] = rgb.tobytes() if not rgb.flags.c_contiguous else rgb.data.cast("B")
            answers.write(b"K" + _HEADER.pack(height, width, info.height, info.width))
        except ImageError as exc:
            code, message = exc.code.encode()[:200], str(exc).encode()[:2000]
            answers.write(b"E" + struct.pack("<H", len(code)) + code + struct.pack("<H", len(message)) + message)
        answers.flush()


def _die_with_the_worker() -> None:
    """Linux: SIGKILL this helper when its worker dies, even mid-decode (a killed worker's
    pipes close, but a helper busy in a bomb would notice only when the decode ends)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the worker decides
    _die_with_the_worker()
    _serve(*(int(arg) for arg in sys.argv[1:6]))
