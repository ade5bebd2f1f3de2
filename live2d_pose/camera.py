#!/usr/bin/env python3
"""Example camera client: stream a webcam, a JetBot CSI camera, a video or an
image to live2d-pose ingest as JPEG frames.

    live2d-pose camera --source webcam
    python3 camera.py --server ws://HOST:8765/image --source csi     # on a JetBot
    python3 camera.py -i HOST -p 8765 --source clip.mp4 --fps 15 --once

Sources: ``webcam`` (device 0), a device index, ``csi`` or ``csi:N`` (Jetson
CSI camera N through GStreamer), a raw GStreamer pipeline ending in appsink,
an image file (sent repeatedly) or a video file (looped unless ``--once``).
Frames keep the source's aspect: the long side is brought down to
--long-side (640); --width and/or --height set the size instead.

Protocol (docs/protocol.md): wait for {"type": "initialized"}, send
{"imageSize": {...}}, wait for {"type": "ok"} and {"type": "ready"} (its
viewer URL is logged), then send binary JPEG frames at most --fps a second.
The client reconnects with capped exponential backoff (0.5 s to 10 s) and
exits 2 when ingest rejects it for good (close code 1003, 1008 or 1009), or
when what answers is not a camera endpoint (an HTTP answer other than 429 or
5xx to the WebSocket handshake: a wrong path, or the gateway's viewer port,
which it names). When
another camera takes over its stream name (close code 4000, ``replaced``), it
waits much longer (30 s, doubling to 5 minutes) before it tries again, so two
cameras with one name do not keep throwing each other out.

``--track face,pose,hands`` (any subset) asks ingest for those trackers.

Every flag can also come from the environment: ``--long-side`` from
LIVE2D_POSE_CAMERA_LONG_SIDE, and so on (a flag wins); ``--help`` shows each
one's variable and default.

This file is standalone on purpose (copy it onto the camera host): it needs
only the standard library, websockets (8 or newer) and OpenCV, and it runs on
Python 3.6.
"""

import argparse
import asyncio
import concurrent.futures
import json
import logging
import os
import signal
import sys
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import cv2
import websockets

LOG = logging.getLogger("live2d_pose.camera")
DEFAULT_HOST, DEFAULT_PORT, DEFAULT_PATH = "localhost", 8765, "/image"
ENV_PREFIX = "LIVE2D_POSE_CAMERA_"  # + the flag's name: LIVE2D_POSE_CAMERA_TOKEN for --token
TOKEN_ENV = ENV_PREFIX + "TOKEN"
CSI_MODES = ((1640, 1232), (1280, 720))  # the IMX219's full-view 4:3 and 16:9 modes (JetBot)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
FATAL_CLOSE_CODES = {1003: "wrong data type", 1008: "policy / auth", 1009: "frame too big"}
CLOSE_REPLACED = 4000  # another connection took over this stream name
BACKOFF_MIN, BACKOFF_MAX = 0.5, 10.0
REPLACED_BACKOFF_MIN, REPLACED_BACKOFF_MAX = 30.0, 300.0
# Copies of the tracker table's names and of what an ingest of before tracked (live2d_pose/trackers.json):
# this file runs alone on the camera host. tests/unit/test_trackers_table.py holds them equal.
TRACKERS = ("face", "pose", "hands")
UNTAGGED = ("face",)
EOF = object()  # put in the frame slot when the source has ended
DONE, RETRY, REPLACED, FATAL = "done", "retry", "replaced", "fatal"


# ---------------------------------------------------------------- pure parts


def build_url(server=None, ip=None, port=None, stream=None, token=None, track=None):
    """The ingest URL: --server, or one built from --ip/--port, plus the query."""
    if server is None:
        host = ip or DEFAULT_HOST
        if ":" in host and not host.startswith("["):
            host = "[%s]" % host  # IPv6 literal
        server = "ws://%s:%d%s" % (host, port or DEFAULT_PORT, DEFAULT_PATH)
    parts = urlsplit(server)
    # --stream / --token / --track win over the same keys in --server's query; others are kept.
    overrides = {k: v for k, v in (("stream", stream), ("token", token), ("track", track)) if v}
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in overrides]
    query += sorted(overrides.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def parse_source(text):
    """Return (kind, value): device/index, csi/sensor id, gst/pipeline, image/path, video/path."""
    text = text.strip()
    if text == "webcam":
        return "device", 0
    if text.isdigit():
        return "device", int(text)
    if text == "csi" or (text.startswith("csi:") and text[4:].isdigit()):
        return "csi", int(text[4:] or 0)
    if " ! " in text:
        return "gst", text
    if text.lower().endswith(IMAGE_EXTENSIONS):
        return "image", text
    return "video", text


def frame_size(source, width=0, height=0, long_side=0):
    """The size frames are sent at, for a source of size (w, h): --width and --height as
    given; one of them alone, the other from the source's aspect; neither, the source's
    own, its long side brought down to long_side (never enlarged; 0: as it is).
    Sizes are even (GStreamer and video encoders like them so)."""
    source_w, source_h = source
    if width and height:
        return width, height
    if width:
        scale = width / float(source_w)
    elif height:
        scale = height / float(source_h)
    else:
        scale = min(1.0, long_side / float(max(source_w, source_h))) if long_side else 1.0

    def even(n):
        return max(2, int(round(n / 2.0)) * 2)

    return width or even(source_w * scale), height or even(source_h * scale)


def csi_pipeline(width, height, fps, sensor_id=0):
    """GStreamer pipeline for a Jetson CSI camera (IMX219 on a JetBot).

    The sensor runs in a native mode of the same aspect (4:3 or 16:9) and the
    Jetson's nvvidconv scales it to width x height, so the CPU sees small frames.
    """
    capture = CSI_MODES[0] if width * 3 <= height * 4 + 1 else CSI_MODES[1]
    rate = int(min(max(fps, 1), 30)) if fps else 30
    return (
        "nvarguscamerasrc sensor-id=%d ! video/x-raw(memory:NVMM), width=%d, height=%d, "
        "format=NV12, framerate=%d/1 ! nvvidconv ! video/x-raw, width=%d, height=%d, "
        "format=BGRx ! videoconvert ! video/x-raw, format=BGR ! appsink drop=1 max-buffers=1"
        % (sensor_id, capture[0], capture[1], rate, width, height)
    )


class Pacer(object):
    """Send at most `fps` frames a second (0: no limit), without bursts after a stall."""

    def __init__(self, fps):
        self.interval = 1.0 / fps if fps and fps > 0 else 0.0
        self.next_at = None

    def delay(self, now):
        return 0.0 if self.next_at is None else max(0.0, self.next_at - now)

    def sent(self, now):
        late = self.next_at is None or now > self.next_at + self.interval
        self.next_at = (now if late else self.next_at) + self.interval  # jitter kept, no catch-up


class Backoff(object):
    """Capped exponential backoff: 0.5, 1, 2, 4, 8, 10, 10, ... seconds."""

    def __init__(self, low=BACKOFF_MIN, high=BACKOFF_MAX):
        self.low, self.high, self.current = low, high, low

    def next(self):
        delay, self.current = self.current, min(self.current * 2, self.high)
        return delay

    def reset(self):
        self.current = self.low


# ------------------------------------------------------------ frame sources


class FrameSource(object):
    """Blocking frame reader; every call runs on one worker thread, off the loop.

    ``wanted``: (width, height, long_side) as :func:`frame_size` takes them; ``size``
    is fixed by the first frame."""

    def __init__(self, kind, value, wanted, fps, loop_video=True):
        self.kind, self.value, self.wanted, self.loop_video = kind, value, wanted, loop_video
        self.size = None
        self.live = kind in ("device", "csi", "gst")
        self.capture, self.image = None, None
        if kind == "image":
            self.image = cv2.imread(value, cv2.IMREAD_COLOR)
            if self.image is None:
                raise IOError("cannot read image %r" % value)
            return
        if kind == "csi":
            # the sensor's 4:3 mode unless a 16:9 size was asked for
            width, height = frame_size(CSI_MODES[0], *wanted)
            self.capture = cv2.VideoCapture(csi_pipeline(width, height, fps, value), cv2.CAP_GSTREAMER)
        elif kind == "gst":
            self.capture = cv2.VideoCapture(value, cv2.CAP_GSTREAMER)
        else:
            self.capture = cv2.VideoCapture(value)
        if not self.capture.isOpened():
            raise IOError("cannot open %s source %r" % (kind, value))

    def read(self):
        """The next frame at self.size (fixed by the first frame), or None."""
        frame = self.image if self.image is not None else self._grab()
        if frame is None:
            return None
        height, width = frame.shape[:2]
        if self.size is None:
            self.size = frame_size((width, height), *self.wanted)
        if (width, height) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        return frame

    def _grab(self):
        ok, frame = self.capture.read()
        if not ok and self.kind == "video" and self.loop_video:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.capture.read()
        return frame if ok else None

    def close(self):
        if self.capture is not None:
            self.capture.release()


class LatestFrame(object):
    """A one-frame slot: a new frame replaces an unsent one (counted as dropped)."""

    def __init__(self):
        self.frame, self.dropped = None, 0
        self._fresh, self._taken = asyncio.Event(), asyncio.Event()
        self._taken.set()

    def put(self, frame):
        if self.frame is not None:
            self.dropped += 1
        self.frame = frame
        self._taken.clear()
        self._fresh.set()

    async def take(self):
        await self._fresh.wait()
        frame, self.frame = self.frame, (EOF if self.frame is EOF else None)
        if frame is not EOF:
            self._fresh.clear()
        self._taken.set()
        return frame

    async def first(self):
        await self._fresh.wait()

    async def wait_taken(self):
        await self._taken.wait()


async def read_frames(source, slot, pool):
    """Live sources are read continuously (the slot keeps the freshest frame);
    files are read only when the previous frame was taken."""
    loop = asyncio.get_event_loop()
    while True:
        if not source.live:
            await slot.wait_taken()
        frame = await loop.run_in_executor(pool, source.read)
        if frame is None:
            if source.live:
                LOG.error("camera %r stopped delivering frames", source.value)
            slot.put(EOF)
            return
        slot.put(frame)


# ------------------------------------------------------------- the session


async def cancel_all(tasks):
    """Cancel tasks and wait until they are gone: a cancelled task that nobody awaits can be
    garbage-collected while still pending (asyncio keeps only weak references to tasks)."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def until_stopped(coro, stop):
    """Run coro unless stop is set first; True when coro finished."""
    task, stopper = asyncio.ensure_future(coro), asyncio.ensure_future(stop.wait())
    await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    finished = task.done()
    await cancel_all([t for t in (task, stopper) if not t.done()])
    return finished


def encode(frame, quality):
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def parse_message(raw):
    """A server text message as a dict ({} when it is not a JSON object);
    error messages are logged here, wherever they arrive."""
    try:
        message = json.loads(raw)
    except (TypeError, ValueError):
        message = None
    if not isinstance(message, dict):
        LOG.warning("ignoring a message that is not a JSON object: %.80r", raw)
        return {}
    if message.get("type") == "error":
        LOG.warning("ingest: %s (%s)", message.get("message"), message.get("code"))
    return message


async def expect(ws, wanted, timeout):
    """Wait for the text message {"type": wanted}; a close raises ConnectionClosed
    (after an error, ingest closes the socket when it cannot go on)."""
    while True:
        message = parse_message(await asyncio.wait_for(ws.recv(), timeout))
        if message.get("type") == wanted:
            return message


class NotIngest(Exception):
    """A WebSocket that does not speak ingest's camera protocol (its first message is not
    {"type": "initialized"}); the message type it sent instead is the argument."""


async def handshake(ws, size, timeout):
    greeting = {"type": "error"}
    while greeting.get("type") == "error":  # logged; ingest closes when it cannot go on
        greeting = parse_message(await asyncio.wait_for(ws.recv(), timeout))
    if greeting.get("type") != "initialized":
        raise NotIngest(greeting.get("type"))
    await ws.send(json.dumps({"imageSize": {"width": size[0], "height": size[1]}}))
    await expect(ws, "ok", timeout)
    return await expect(ws, "ready", timeout)


async def log_server_messages(ws):
    while True:
        raw = await ws.recv()  # ConnectionClosed ends the session
        if not isinstance(raw, bytes) and parse_message(raw).get("type") != "error":
            LOG.info("ingest says %.200s", raw)


async def send_frames(ws, slot, args, stats):
    loop = asyncio.get_event_loop()
    pacer = Pacer(args.fps)
    while True:
        await asyncio.sleep(pacer.delay(loop.time()))
        frame = await slot.take()
        if frame is EOF:
            LOG.info("source ended")
            return
        data = await loop.run_in_executor(None, encode, frame, args.quality)
        await ws.send(data)
        pacer.sent(loop.time())
        stats["sent"] += 1
        stats["bytes"] += len(data)
        if args.max_frames and stats["sent"] >= args.max_frames:
            return


def http_answer(exc):
    """(status, Server header) of an HTTP answer that refused the WebSocket handshake;
    (None, "") when nothing answered in HTTP. websockets 14+ keeps the response; 10-13 the
    status and headers; 8-9 (a JetBot's Python 3.6) the status alone."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) or getattr(exc, "status_code", None)
    headers = getattr(response, "headers", None) or getattr(exc, "headers", None) or {}
    return status, headers.get("Server", "") if hasattr(headers, "get") else ""


FIX_URL = "cameras connect to ingest's camera URL, which `live2d-pose up` prints (ws://HOST:%d%s by default)" % (
    DEFAULT_PORT,
    DEFAULT_PATH,
)


def refusal(url, status, server):
    """Why an HTTP answer is not a camera endpoint, and what to do; None when it is worth
    trying again (429 Too Many Requests, a 5xx: ingest busy or restarting behind a proxy)."""
    if status == 429 or status >= 500:
        return None
    where, fix = url.split("?")[0], FIX_URL
    if "live2d-pose gateway" in server:
        return "%s is live2d-pose's gateway (the viewer's port), not ingest: %s" % (where, fix)
    if "live2d-pose ingest" in server:
        return "ingest at %s refused the connection: HTTP %s (cameras connect to its path %s)" % (
            where,
            status,
            DEFAULT_PATH,
        )
    if status < 300:
        return "%s answered with a web page (HTTP %s), not a WebSocket: %s" % (where, status, fix)
    answered = " from %s" % server if server else ""  # websockets before 10 keeps no headers
    return "%s refused the connection: HTTP %s%s; %s" % (where, status, answered, fix)


async def session(url, size, slot, args, stats, stop, backoff):
    """One connection: returns DONE (stop), RETRY (reconnect) or FATAL.
    The stream id ingest gave is kept in stats["stream"]."""
    try:
        ws = await asyncio.wait_for(
            websockets.connect(url, max_size=2**20, ping_interval=20, ping_timeout=20, close_timeout=2), args.timeout
        )
    except websockets.exceptions.InvalidURI as exc:
        LOG.error("bad server URL: %s", exc)
        return FATAL
    except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as exc:
        status, server = http_answer(exc)
        why = refusal(url, status, server) if status else None
        if why:  # it would answer the same again
            LOG.error("%s", why)
            return FATAL
        LOG.warning("cannot connect to %s: %s", url.split("?")[0], str(exc) or type(exc).__name__)
        return RETRY
    tasks = []
    try:
        ready = await handshake(ws, size, args.timeout)
        backoff.reset()
        stats["stream"] = ready.get("stream") or stats["stream"]
        LOG.info(
            "streaming %dx%d as %r (tracking %s); open the viewer at %s",
            size[0],
            size[1],
            ready.get("stream"),
            ",".join(ready.get("track") or UNTAGGED),
            ready.get("viewer"),
        )
        tasks = [
            asyncio.ensure_future(c) for c in (send_frames(ws, slot, args, stats), log_server_messages(ws), stop.wait())
        ]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks[:2]:  # the sender first: a finished stream beats a late close
            if task in done:
                task.result()  # re-raises why the connection ended
                break
        return DONE
    except NotIngest as exc:
        gateway = " (live2d-pose's gateway: the viewers' socket)" if exc.args[0] == "hello" else ""
        LOG.error(
            "%s is not ingest: it greeted with %r, not 'initialized'%s; %s",
            url.split("?")[0],
            exc.args[0],
            gateway,
            FIX_URL,
        )
        return FATAL
    except websockets.exceptions.ConnectionClosed:
        code = ws.close_code
        if code == CLOSE_REPLACED:
            LOG.warning("another camera took over stream %r", stats["stream"])
            return REPLACED
        if code in FATAL_CLOSE_CODES:
            LOG.error("ingest closed the connection: %s (%s, %s)", code, FATAL_CLOSE_CODES[code], ws.close_reason)
            return FATAL
        LOG.warning("connection closed (%s%s)", code, " " + ws.close_reason if ws.close_reason else "")
        return RETRY
    except (OSError, asyncio.TimeoutError) as exc:
        LOG.warning("session failed: %s", str(exc) or type(exc).__name__)
        return RETRY
    finally:
        await cancel_all(tasks)
        await ws.close()


async def run(args):
    """Open the source, then connect, stream and reconnect until told to stop."""
    loop = asyncio.get_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or Windows
    if args.duration:
        loop.call_later(args.duration, stop.set)
    kind, value = parse_source(args.source)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        source = await loop.run_in_executor(
            pool,
            lambda: FrameSource(
                kind, value, (args.width, args.height, args.long_side), args.fps, loop_video=not args.once
            ),
        )
    except IOError as exc:
        LOG.error("%s", exc)
        pool.shutdown(wait=False)
        return 1
    slot, backoff = LatestFrame(), Backoff()
    replaced_backoff = Backoff(REPLACED_BACKOFF_MIN, REPLACED_BACKOFF_MAX)
    stats = {"sent": 0, "bytes": 0, "reconnects": 0, "stream": args.stream}
    reader = asyncio.ensure_future(read_frames(source, slot, pool))
    started, outcome = time.time(), RETRY
    try:
        if not await until_stopped(slot.first(), stop):  # the first frame fixes the size
            return 0
        LOG.info("camera %s (%s) -> %s", args.source, kind, build_url(args.server, args.ip, args.port).split("?")[0])
        while not stop.is_set():
            # after a reconnect, ask for the same stream id, so viewer links keep working
            url = build_url(args.server, args.ip, args.port, stats["stream"], args.token, args.track)
            outcome = await session(url, source.size, slot, args, stats, stop, backoff)
            if outcome not in (RETRY, REPLACED) or slot.frame is EOF or stop.is_set():
                break
            delay = replaced_backoff.next() if outcome == REPLACED else backoff.next()
            LOG.info("reconnecting in %.1f s", delay)
            stats["reconnects"] += 1
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except asyncio.TimeoutError:
                pass
    finally:
        await cancel_all([reader])
        try:
            await asyncio.wait_for(loop.run_in_executor(pool, source.close), 5)
        except asyncio.TimeoutError:
            LOG.warning("the camera did not close in 5 s")
        pool.shutdown(wait=False)
        LOG.info(
            "camera stopped: %d frames sent (%.1f MB) in %.1f s, %d reconnects, %d dropped",
            stats["sent"],
            stats["bytes"] / 1e6,
            time.time() - started,
            stats["reconnects"],
            slot.dropped,
        )
    if outcome == FATAL:
        return 2
    return 1 if source.live and slot.frame is EOF else 0


# Every flag: (names, dest, type, default, help). Each is also an environment variable,
# ENV_PREFIX + DEST in capitals; a flag beats the environment, which beats the default.
FLAGS = (
    (
        ("--server",),
        "server",
        str,
        None,
        "ingest's camera URL (default: ws://localhost:8765/image, or one made from --ip and --port)",
    ),
    (("-i", "--ip"), "ip", str, None, "ingest's host (makes the URL with --port; default %s)" % DEFAULT_HOST),
    (("-p", "--port"), "port", int, None, "ingest's camera port (makes the URL with --ip; default %d)" % DEFAULT_PORT),
    (("--stream",), "stream", str, None, "stream name (default: ingest picks one)"),
    (("--token",), "token", str, None, "camera token, when ingest wants one"),
    (
        ("--track",),
        "track",
        str,
        None,
        "trackers to run: a comma list of %s (default: ingest's own default)" % ", ".join(TRACKERS),
    ),
    (("--source",), "source", str, "webcam", "webcam | DEVICE | csi[:N] | VIDEO_FILE | IMAGE | GStreamer pipeline"),
    (
        ("--long-side",),
        "long_side",
        int,
        640,
        "frames keep the source's aspect, their long side brought down to this (0: the source's size)",
    ),
    (("--width",), "width", int, 0, "frame width (alone: the height follows the source's aspect)"),
    (("--height",), "height", int, 0, "frame height (alone: the width follows the source's aspect)"),
    (("--quality",), "quality", int, 80, "JPEG quality, 1-100"),
    (("--fps",), "fps", float, 30.0, "frames a second at most (0: no limit)"),
    (("--once",), "once", bool, False, "stop at the end of a video file"),
    (("--max-frames",), "max_frames", int, 0, "stop after N frames (0: never)"),
    (("--duration",), "duration", float, 0.0, "stop after S seconds (0: never)"),
    (("--timeout",), "timeout", float, 10.0, "connect and handshake timeout, seconds"),
    (("--log-level",), "log_level", str, "INFO", "DEBUG, INFO, WARNING or ERROR"),
)


def _from_text(kind, text):
    if kind is bool:
        value = text.strip().lower()
        if value not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
            raise ValueError("not a boolean: %r" % text)
        return value in ("1", "true", "yes", "on")
    return kind(text)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="live2d-pose camera", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for names, dest, kind, default, what in FLAGS:
        text = "%s [env %s%s]" % (what, ENV_PREFIX + dest.upper(), "" if default is None else ", default %s" % default)
        if kind is bool:  # every default None: unset, so the environment can fill it
            parser.add_argument(*names, dest=dest, action="store_const", const=True, default=None, help=text)
        else:
            parser.add_argument(*names, dest=dest, type=kind, default=None, help=text)
    return parser


def parse_args(argv=None, environ=None):
    environ = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(argv)
    given = {dest for dest, value in vars(args).items() if value is not None}
    for _names, dest, kind, default, _ in FLAGS:
        name = ENV_PREFIX + dest.upper()
        if dest in given:
            continue
        if name in environ:
            try:
                setattr(args, dest, _from_text(kind, environ[name]))
            except ValueError as exc:
                parser.error("%s: %s" % (name, exc))
        else:
            setattr(args, dest, default)
    _check(parser, args, given)
    return args


def _check(parser, args, given):
    if args.server and (args.ip or args.port):
        server_flag, address_flag = "server" in given, bool(given & {"ip", "port"})
        if server_flag == address_flag:
            parser.error("use either --server or --ip/--port (flags or %s* variables)" % ENV_PREFIX)
        if server_flag:  # a flag beats the environment
            args.ip = args.port = None
        else:
            args.server = None
    if args.track is not None:
        names = [name.strip() for name in args.track.split(",") if name.strip()]
        unknown = [name for name in names if name not in TRACKERS]
        if unknown or not names:
            parser.error(
                "--track: %s (choose from %s)"
                % (
                    "unknown tracker %s" % ", ".join(repr(n) for n in unknown) if unknown else "no tracker named",
                    ", ".join(TRACKERS),
                )
            )
        args.track = ",".join(names)
    if min(args.width, args.height, args.long_side) < 0 or not 1 <= args.quality <= 100 or args.fps < 0:
        parser.error("need --width, --height and --long-side >= 0, 1 <= --quality <= 100, --fps >= 0")


def main(argv=None):
    args = parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=getattr(logging, args.log_level.upper(), logging.INFO),
            format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        )
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(run(args))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


if __name__ == "__main__":
    sys.exit(main())
