"""Takes recorded inside the gateway: every stream to a folder, and the takes the viewer page asks for.

The gateway already holds each watched stream's rig, so a take here costs no
connection, no encoding and no decoding: a recorder is a subscriber of its
stream's motion (motion.MotionHub calls ``on_motion`` with the unmirrored
Motion of every update) that never misses one. Recording never slows or
breaks the live stream: the journal is opened on a thread (an fsync can take
long on a busy disk; the updates meanwhile wait in memory), ``Recorder.add``
only appends (its journal is written by a thread, journal.py), the files are
made from the journal by a separate process (``live2d-pose record
--recover``), and a take that fails (a full disk) stops with one log line
and a count in /metrics, nothing else: the stream is not recorded again
until it ends and comes back.

Two kinds of take:

- **automatic** (``--record-dir DIR``, ``live2d-pose up --record DIR``):
  every stream but a played one (a take already), one take from the update its rig first publishes until the
  rig is dropped (the stream ended and its avatar came to rest), named
  ``<stream>-<YYYYmmdd-HHMMSS>`` with each of ``--record-formats``. Journals
  a crash left in DIR are turned into files at start.
- **the page's** (page_takes.py, over HTTP): one stream, until the page
  stops it or ``--max-take-seconds`` (``Take.deadline``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

from live2d_pose.gateway.settings import GatewayConfig
from live2d_pose.gateway.fanout import Fanout
from live2d_pose.recording.journal import JOURNAL_SUFFIX, Recorder, RecordingError
from live2d_pose.rig.motion import Motion
from live2d_pose.service import SettingError

log = logging.getLogger("live2d_pose.gateway.takes")

FORMATS = {"vrma": ".vrma", "bvh": ".bvh"}
CHECK_EVERY_S = 1.0  # takes past their deadline; streams whose take failed that have ended
STOP_WAIT_S = 3.0  # at exit, how long the gateway waits for the takes' files (a conversion goes on without it)


@dataclass(eq=False)
class Take:
    stream: str
    automatic: bool
    folder: Path
    id: str = ""  # the page's takes: 128 random bits, hex
    recorder: Recorder | None = None  # None while its journal is being opened
    waiting: list = field(default_factory=list)  # the updates that came meanwhile
    opening: asyncio.Task | None = None
    deadline: float = float("inf")  # monotonic: a page's take stops by itself then
    finishing: asyncio.Task | None = None
    finished_at: float | None = None  # monotonic
    files: list[Path] = field(default_factory=list)
    error: str = ""  # why it stopped early (a full disk), or why its files could not be made

    def add(self, motion: Motion) -> None:
        if self.recorder is None:
            self.waiting.append((motion.t, motion))
        else:
            self.recorder.add(motion.t, motion)


def parse_formats(text: str) -> list[str]:
    formats = [f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise SettingError(f"--record-formats: {', '.join(unknown) or 'nothing'} is not vrma or bvh")
    return list(dict.fromkeys(formats))


def take_name(stream: str, folder: Path) -> str:
    """``<stream>-<local start time>``, with -2, -3 ... when that take exists already (or its journal)."""
    base = f"{stream}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, n = base, 1
    while any((folder / (name + suffix)).exists() for suffix in [JOURNAL_SUFFIX, *FORMATS.values()]):
        n += 1
        name = f"{base}-{n}"
    return name


class Takes:
    """The takes being recorded, per stream: their journals, their files, their failures."""

    def __init__(
        self,
        config: GatewayConfig,
        fanout: Fanout,
        counters: dict,
        played: Callable[[str], bool] = lambda stream: False,
    ):
        self.config = config
        self.fanout = fanout
        self.played = played  # a played stream is a take already: --record-dir does not record it again
        self.counters = counters
        for name in ("takes_started", "takes_finished", "takes_errors"):
            counters.setdefault(name, 0)
        self.formats = parse_formats(config.record_formats)
        self.folder = Path(config.record_dir) if config.record_dir else None
        self.recording: dict[str, list[Take]] = {}
        self.given_up: set[str] = set()  # streams whose automatic take failed: not again until they end
        self.conversions: list[subprocess.Popen] = []
        self.closed = False  # the gateway is stopping
        if self.folder is not None:
            self._check_folder()

    # ------------------------------------------------------------ the motion hub's side

    def wants(self, stream: str) -> bool:
        """Should the stream have a rig even if no viewer watches it? (Nothing starts once closing.)"""
        if self.closed:
            return False
        return self._automatic(stream) or stream in self.recording

    def _automatic(self, stream: str) -> bool:
        return self.folder is not None and stream not in self.given_up and not self.played(stream)

    def on_motion(self, stream: str, motion: Motion) -> None:
        """One update of ``stream`` (unmirrored)."""
        takes = self.recording.get(stream)
        if self._automatic(stream) and not any(t.automatic for t in takes or ()):
            self.start(stream, self.folder, automatic=True)
            takes = self.recording.get(stream)
        for take in list(takes or ()):
            try:
                take.add(motion)
            except RecordingError as exc:
                self._failed(take, exc)
                continue
            if time.monotonic() >= take.deadline:
                self.finish(take)

    def rig_dropped(self, stream: str) -> None:
        """The stream's rig is gone (the stream ended and came to rest): its automatic take is over."""
        for take in [t for t in self.recording.get(stream, ()) if t.automatic]:
            self.finish(take)

    # ------------------------------------------------------------ starting and ending

    def _check_folder(self) -> None:
        if not self.folder.is_dir():
            raise SettingError(f"--record-dir {self.folder}: no such folder")
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise SettingError(f"--record-dir {self.folder}: this user cannot write there")

    async def recover_at_start(self) -> None:
        """Journals a crash left in the folder become files, in a process of their own (listed now: the
        takes that start from here on are not theirs)."""
        journals = sorted(self.folder.glob(f"*{JOURNAL_SUFFIX}")) if self.folder is not None else []
        if not journals:
            return
        log.warning("recovering %d take(s) a crash cut short in %s", len(journals), self.folder)
        code, why = await self._converted(journals)
        if code != 0:
            self.counters["takes_errors"] += 1
            log.error(
                "could not recover every take in %s (%s): live2d-pose record --recover %s",
                self.folder,
                why,
                self.folder,
            )

    def start(self, stream: str, folder: Path, automatic: bool, take_id: str = "") -> Take:
        """A take of ``stream`` from now on; its journal opens on a thread (``take.opening``)."""
        take = Take(stream, automatic, folder, id=take_id)
        self.recording.setdefault(stream, []).append(take)
        self.counters["takes_started"] += 1
        take.opening = asyncio.ensure_future(self._open(take))
        return take

    def _recorder(self, stream: str, folder: Path) -> Recorder:
        name = take_name(stream, folder)
        return Recorder(
            *(folder / (name + FORMATS[f]) for f in self.formats), meta={"stream": stream, "recorded_by": "gateway"}
        )

    async def _open(self, take: Take) -> None:
        try:
            recorder = await asyncio.to_thread(self._recorder, take.stream, take.folder)
        except (RecordingError, OSError) as exc:  # the folder went away, or is full
            take.error = f"cannot record in {take.folder}: {exc}"
            self.counters["takes_errors"] += 1
            log.error("cannot record stream %s in %s: %s", take.stream, take.folder, exc)
            if take.automatic:
                self.given_up.add(take.stream)
            self._unlist(take)
            return
        if self.closed:  # the gateway stopped meanwhile: nothing was recorded
            recorder.stop()
            recorder.journal.unlink(missing_ok=True)
            return
        log.info("recording stream %s to %s", take.stream, recorder.journal.with_suffix(""))
        take.recorder = recorder
        waiting, take.waiting = take.waiting, []
        try:
            for t, motion in waiting:
                recorder.add(t, motion)
        except RecordingError as exc:
            self._failed(take, exc)

    def _unlist(self, take: Take) -> None:
        takes = self.recording.get(take.stream, [])
        if take in takes:
            takes.remove(take)
        if not takes:
            self.recording.pop(take.stream, None)

    def _failed(self, take: Take, exc: Exception) -> None:
        take.error = str(exc)
        self.counters["takes_errors"] += 1
        log.error("recording stream %s stopped: %s", take.stream, exc)
        if take.automatic:
            self.given_up.add(take.stream)
        self.finish(take)

    def finish(self, take: Take) -> asyncio.Task:
        """Stop recording ``take`` and make its files (once; the same task for every caller)."""
        if take.finishing is None:
            self._unlist(take)
            take.finishing = asyncio.ensure_future(self._finish(take))
        return take.finishing

    async def _finish(self, take: Take) -> None:
        await take.opening
        recorder = take.recorder
        if recorder is None:  # it could not start (take.error says why)
            take.finished_at = time.monotonic()
            return
        try:
            await asyncio.to_thread(recorder.stop)  # the last second into the journal (a flush and an fsync)
        except RecordingError as exc:
            take.error = take.error or str(exc)
        if recorder.samples:
            code, why = await self._converted([recorder.journal])
            if code != 0:
                take.error = take.error or f"its files could not be written ({why}); the journal stays"
                self.counters["takes_errors"] += 1
                log.error("take %s: %s", recorder.journal, take.error)
        else:
            recorder.journal.unlink(missing_ok=True)
        take.files = [p for p in recorder.outputs if p.exists()]
        take.finished_at = time.monotonic()
        self.counters["takes_finished"] += 1
        log.info(
            "take of stream %s: %s (%.1f s, %d updates)%s",
            take.stream,
            ", ".join(p.name for p in take.files) or "no files",
            recorder.duration_ms / 1000,
            recorder.samples,
            f"; {take.error}" if take.error else "",
        )

    def _convert(self, journals: list[Path]) -> subprocess.Popen:
        """``live2d-pose record --recover`` on the journals, in a session of its own (it finishes even if
        the gateway is stopped meanwhile)."""
        argv = [sys.executable, "-m", "live2d_pose", "record", "--log-level", "WARNING"]
        for journal in journals:
            argv += ["--recover", str(journal)]
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        self.conversions.append(process)
        return process

    async def _converted(self, journals: list[Path]) -> tuple[int, str]:
        """Convert and wait (on a thread): the exit status and the last line it logged."""
        process = self._convert(journals)
        try:
            _, err = await asyncio.to_thread(process.communicate)
        finally:
            self.conversions.remove(process)
        lines = err.decode(errors="replace").strip().splitlines()
        return process.returncode, lines[-1] if lines else f"exit code {process.returncode}"

    async def run(self) -> None:
        """Takes past their deadline stop (also without updates); a stream whose take failed is recorded
        again once it has ended and come back."""
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            self.given_up &= set(self.fanout.streams)
            now = time.monotonic()
            for take in [t for takes in self.recording.values() for t in takes if now >= t.deadline]:
                log.info("the take of stream %s reached its length (--max-take-seconds)", take.stream)
                self.finish(take)

    def close(self) -> None:
        """At exit: every take stops; automatic ones get their files (waited for up to STOP_WAIT_S, then the
        conversion goes on by itself), the page's are dropped (page_takes.py removes their folder)."""
        self.closed = True
        journals = []
        for take in [t for takes in self.recording.values() for t in takes if t.recorder is not None]:
            try:
                take.recorder.stop()
            except RecordingError as exc:
                log.error("take of stream %s: %s", take.stream, exc)
            if not take.recorder.samples:
                take.recorder.journal.unlink(missing_ok=True)
            elif take.automatic:
                journals.append(take.recorder.journal)
                log.info(
                    "take of stream %s: %.1f s, its files are being written",
                    take.stream,
                    take.recorder.duration_ms / 1000,
                )
        self.recording.clear()
        if journals:
            self._convert(journals)
        deadline = time.monotonic() + STOP_WAIT_S
        for process in list(self.conversions):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
