"""``live2d-pose record``: a stream's motion from the gateway to .vrma / .bvh files.

    live2d-pose record --stream jetbot --out take.vrma --out take.bvh     # until Ctrl-C
    live2d-pose record --stream jetbot --out dance.vrma --duration 60
    live2d-pose record --recover takes/                                   # files of takes a crash cut short

It subscribes to the gateway's /ws like any viewer, for the motion of the
subject's own sides (``mirror=0``: recordings are never mirrored), and hands
every update to a Recorder (journal.py): the take is on disk within a second
of happening, so a crash loses at most the last one. A progress line says the
elapsed time, the frames and the journal's size. Errors are said in one line
before anything is recorded (exit 2): a stream the gateway does not have
(with the live ones), a folder that cannot be written, a suffix that is no
motion file; a full disk while recording stops the take (exit 1) and the
journal keeps it up to its last second (``--recover``).

The gateway records too, with no connection at all (``up --record DIR``,
the page's record button: docs/recording.md); this command is for a take
on another machine than the gateway's, or a take of your own choosing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import time
from pathlib import Path

from live2d_pose import aio
from live2d_pose.config import RecordConfig
from live2d_pose.outputs.source import GatewaySource, viewer_url
from live2d_pose.recording.journal import JOURNAL_SUFFIX, Recorder, RecordingError, recover, recover_all
from live2d_pose.rig.motion import Motion

log = logging.getLogger("live2d_pose.record")

EXIT_FAILED = 1  # the take stopped early (a full disk): its journal keeps it
EXIT_SETTING = 2  # nothing recorded: a setting or a name that cannot work
PROGRESS_EVERY_S = 0.5  # on a terminal
LOG_EVERY_S = 10.0  # elsewhere (a log file)


class Stop(Exception):
    """Recording cannot start or go on; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_SETTING):
        super().__init__(message)
        self.code = code


def main(config: RecordConfig) -> int:
    try:
        if config.recover:
            return recover_takes(config.recover)
        session = Session(config)
        aio.run(session.run())
        return session.code
    except Stop as stop:
        log.error("%s", stop)
        return stop.code


def recover_takes(paths) -> int:
    """The files of each journal named (or in each folder named): 0 when every one was written."""
    failed = 0
    for path in map(Path, paths):
        if path.is_dir():
            found = len(list(path.glob(f"*{JOURNAL_SUFFIX}")))
            written = recover_all(path)
            failed += len(list(path.glob(f"*{JOURNAL_SUFFIX}")))  # recover_all logs and keeps a journal it cannot
            log.info("%s: %d journal(s), %d file(s) written", path, found, len(written))
        else:
            try:
                recover(path)
            except (OSError, ValueError) as exc:
                log.error("cannot recover %s: %s", path, exc)
                failed += 1
    return EXIT_FAILED if failed else 0


def start_recorder(outputs, fps: float, meta: dict) -> Recorder:
    """A Recorder for ``outputs``, or Stop with a line that says why not."""
    if not outputs:
        raise Stop("name the file(s) to write with --out (take.vrma, take.bvh; twice for both)")
    try:
        return Recorder(*outputs, fps=fps, meta=meta)
    except ValueError as exc:  # an unknown suffix, a bad fps
        raise Stop(str(exc)) from None
    except RecordingError as exc:  # a folder that does not exist or cannot be written, a journal there
        raise Stop(str(exc)) from None


class Session:
    """One take: connect, check the stream, record until Ctrl-C, --duration or a failure."""

    def __init__(self, config: RecordConfig):
        self.config = config
        self.recorder = start_recorder(config.out, config.fps, {"stream": config.stream, "gateway": config.gateway_url})
        self.stream = config.stream or None  # None: the one the gateway follows, learnt from the first motion
        self.started: float | None = None  # monotonic, at the first motion
        self.stopping = asyncio.Event()
        self.failure: Stop | None = None
        self.checked = False  # the stream was found in the gateway's first hello
        self.code = 0
        self.progress = Progress(self.recorder)
        url = viewer_url(config.gateway_url, config.stream, config.viewer_token, mirror=False)
        self.source = GatewaySource(url, self.on_motion, self.on_control)

    async def run(self) -> None:
        aio.stop_on_signals(self.stopping)
        log.info(
            "recording %s from %s to %s (Ctrl-C stops%s)",
            self.config.stream or "the latest stream",
            self.config.gateway_url,
            ", ".join(map(str, self.recorder.outputs)),
            f", or after {self.config.duration:g} s" if self.config.duration > 0 else "",
        )
        ticker = asyncio.ensure_future(self._tick())
        try:
            await self.source.run(self.stopping)
        finally:
            ticker.cancel()
            self.progress.end()
        self.code = self._finish()

    # ------------------------------------------------------------ from the gateway

    def on_control(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "hello" and not self.checked:  # at the first connection (a gateway back from a restart
            self.checked = True  # may not know the stream again yet)
            self._check_stream(message.get("streams"))
        elif kind == "ended" and message.get("stream") == self.stream:
            log.info(
                "stream %s ended; the take goes on (its easing to rest, and the stream if it comes back)", self.stream
            )
        elif kind == "error" and message.get("code") in ("unauthorized", "bad_query"):
            self._fail(Stop(f"the gateway refused us: {message.get('message')}"))

    def _check_stream(self, streams) -> None:
        live = sorted(s.get("stream") for s in streams or [] if isinstance(s, dict) and s.get("stream"))
        if self.config.stream and self.config.stream not in live:
            self._fail(
                Stop(
                    f"the gateway has no stream {self.config.stream!r}; live now: {', '.join(live) if live else 'none'}"
                )
            )
        elif not self.config.stream and not live:
            self._fail(Stop("the gateway has no live stream to record (start a camera, or name one with --stream)"))

    def on_motion(self, motion: Motion) -> None:
        if self.failure is not None or self.stopping.is_set():
            return
        if self.stream is None:
            self.stream = motion.stream
            log.info("recording stream %s", motion.stream)
        if motion.stream != self.stream:  # the latest stream changed under us: not this take's
            return
        if self.started is None:
            self.started = time.monotonic()
        try:
            self.recorder.add(motion.t if motion.t is not None else time.time() * 1000, motion)
        except RecordingError as exc:  # a full disk: the journal keeps what was saved
            self._fail(Stop(str(exc), EXIT_FAILED))

    # ------------------------------------------------------------ the end

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            elapsed = 0.0 if self.started is None else time.monotonic() - self.started
            self.progress.show(elapsed, self.source.connected)
            if self.config.duration > 0 and elapsed >= self.config.duration:
                self.stopping.set()

    def _fail(self, failure: Stop) -> None:
        if self.failure is None:
            self.failure = failure
        self.stopping.set()

    def _finish(self) -> int:
        """Write the files (or, after a failure, say where the journal is); the exit status."""
        if self.failure is not None and self.failure.code == EXIT_SETTING and not self.recorder.samples:
            self.recorder.stop()
            self.recorder.journal.unlink(missing_ok=True)  # nothing was recorded: leave nothing behind
            raise self.failure
        if self.failure is not None:
            log.error("%s", self.failure)
            try:
                self.recorder.stop()
            except RecordingError:
                pass
            log.error(
                "the take so far is in %s: live2d-pose record --recover %s",
                self.recorder.journal,
                self.recorder.journal,
            )
            return self.failure.code
        try:
            written = self.recorder.close()
        except (RecordingError, OSError) as exc:
            log.error(
                "%s; the take is in %s: live2d-pose record --recover %s when the cause is gone",
                exc,
                self.recorder.journal,
                self.recorder.journal,
            )
            return EXIT_FAILED
        if not written:
            log.warning("no motion came from the gateway: nothing written")
            return EXIT_FAILED
        log.info(
            "wrote %s: %.1f s, %d frames at %g fps",
            ", ".join(f"{p} ({_mb(p.stat().st_size)})" for p in written),
            self.recorder.duration_ms / 1000,
            frames(self.recorder),
            self.recorder.fps,
        )
        return 0


def frames(recorder: Recorder) -> int:
    """The files' frame count so far: one every 1 / fps s from the first update."""
    return 0 if not recorder.samples else math.floor(recorder.duration_ms * recorder.fps / 1000 + 1e-6) + 1


def _mb(size: int) -> str:
    return f"{size / 1e6:.2f} MB"


class Progress:
    """One line that says how the take goes: rewritten in place on a terminal, logged now and then elsewhere."""

    def __init__(self, recorder: Recorder, stream=sys.stderr):
        self.recorder = recorder
        self.stream = stream
        self.terminal = stream.isatty()
        self.last_log = time.monotonic()
        self.shown = False

    def line(self, elapsed_s: float, connected: bool) -> str:
        minutes, seconds = divmod(elapsed_s, 60)
        state = "" if connected else "  (gateway unreachable: reconnecting)"
        return (
            f"recording {int(minutes)}:{seconds:04.1f}  {frames(self.recorder)} frames  "
            f"{self.recorder.samples} updates  journal {_mb(self.recorder.bytes_written)}{state}"
        )

    def show(self, elapsed_s: float, connected: bool) -> None:
        text = self.line(elapsed_s, connected)
        if self.terminal:
            self.stream.write("\r" + text + "\033[K")
            self.stream.flush()
            self.shown = True
        elif time.monotonic() - self.last_log >= LOG_EVERY_S:
            self.last_log = time.monotonic()
            log.info("%s", text)

    def end(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
