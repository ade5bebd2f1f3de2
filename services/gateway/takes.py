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
  every stream, one take from the update its rig first publishes until the
  rig is dropped (the stream ended and its avatar came to rest), named
  ``<stream>-<YYYYmmdd-HHMMSS>`` with each of ``--record-formats``. Journals
  a crash left in DIR are turned into files at start.
- **the page's** (HTTP, below): one stream, from ``POST /record`` until
  ``POST /record/stop`` or ``--max-take-seconds``, at most ``--max-takes`` at
  once; the files wait TAKE_KEEP_S for ``GET /takes/ID/NAME`` in a private
  folder the gateway removes at exit.

HTTP (docs/protocol.md, "Takes"): a web page of another site may not record
(the request's Origin must be this gateway's own page or in
--allowed-origins; programs send none), the viewer token is needed where one
is set, and a take id is 128 random bits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

from websockets.http11 import Request, Response

from live2d_pose import httpserve, service
from live2d_pose.config import GatewayConfig
from live2d_pose.gateway.fanout import Fanout
from live2d_pose.recording.journal import JOURNAL_SUFFIX, Recorder, RecordingError
from live2d_pose.rig.motion import Motion
from live2d_pose.service import ClientError, SettingError

log = logging.getLogger("live2d_pose.gateway.takes")

FORMATS = {"vrma": ".vrma", "bvh": ".bvh"}
TAKE_KEEP_S = 600.0  # a page's finished take waits this long to be downloaded
CHECK_EVERY_S = 1.0  # page takes past their time, finished takes past TAKE_KEEP_S
STOP_WAIT_S = 3.0  # at exit, how long the gateway waits for the takes' files (a conversion goes on without it)
ROUTES = ("/record", "/record/stop")  # POST
DOWNLOADS = "/takes/"  # GET /takes/ID/NAME
TAKE_ID_BYTES = 16


class TakeError(Exception):
    """An HTTP request about takes that cannot be served: its status and a line for people."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


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

    def describe(self) -> dict:
        recorder = self.recorder
        return {"take": self.id, "stream": self.stream,
                "seconds": round(recorder.duration_ms / 1000, 3) if recorder else 0.0,
                "updates": recorder.samples if recorder else 0, "error": self.error or None,
                "files": [{"name": p.name, "url": f"takes/{self.id}/{p.name}", "bytes": p.stat().st_size}
                          for p in self.files if p.exists()]}


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
    """The takes being recorded, per stream, and the page's finished ones waiting to be downloaded."""

    def __init__(self, config: GatewayConfig, fanout: Fanout, counters: dict):
        self.config = config
        self.fanout = fanout
        self.counters = counters
        for name in ("takes_started", "takes_finished", "takes_errors", "takes_refused"):
            counters.setdefault(name, 0)
        self.formats = parse_formats(config.record_formats)
        self.folder = Path(config.record_dir) if config.record_dir else None
        self.recording: dict[str, list[Take]] = {}
        self.pages: dict[str, Take] = {}  # the page's takes by id, recording or finished
        self.given_up: set[str] = set()  # streams whose automatic take failed: not again until they end
        self.conversions: list[subprocess.Popen] = []
        self.origins = httpserve.OriginPolicy(config.allowed_origins, same_origin=True)
        self._spool: Path | None = None  # the page's takes, made on first use
        self.closed = False  # the gateway is stopping
        if self.folder is not None:
            self._check_folder()

    # ------------------------------------------------------------ the motion hub's side

    def wants(self, stream: str) -> bool:
        """Should the stream have a rig even if no viewer watches it? (Nothing starts once closing.)"""
        if self.closed:
            return False
        return (self.folder is not None and stream not in self.given_up) or stream in self.recording

    def on_motion(self, stream: str, motion: Motion) -> None:
        """One update of ``stream`` (unmirrored)."""
        takes = self.recording.get(stream)
        if self.folder is not None and stream not in self.given_up and not any(t.automatic for t in takes or ()):
            self._start(stream, self.folder, automatic=True)
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
            log.error("could not recover every take in %s (%s): live2d-pose record --recover %s", self.folder,
                      why, self.folder)

    def _start(self, stream: str, folder: Path, automatic: bool, take_id: str = "") -> Take:
        """A take of ``stream`` from now on; its journal opens on a thread (``take.opening``)."""
        take = Take(stream, automatic, folder, id=take_id)
        self.recording.setdefault(stream, []).append(take)
        self.counters["takes_started"] += 1
        take.opening = asyncio.ensure_future(self._open(take))
        return take

    def _recorder(self, stream: str, folder: Path) -> Recorder:
        name = take_name(stream, folder)
        return Recorder(*(folder / (name + FORMATS[f]) for f in self.formats),
                        meta={"stream": stream, "recorded_by": "gateway"})

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
        log.info("take of stream %s: %s (%.1f s, %d updates)%s", take.stream,
                 ", ".join(p.name for p in take.files) or "no files", recorder.duration_ms / 1000,
                 recorder.samples, f"; {take.error}" if take.error else "")

    def _convert(self, journals: list[Path]) -> subprocess.Popen:
        """``live2d-pose record --recover`` on the journals, in a session of its own (it finishes even if
        the gateway is stopped meanwhile)."""
        argv = [sys.executable, "-m", "live2d_pose", "record", "--log-level", "WARNING"]
        for journal in journals:
            argv += ["--recover", str(journal)]
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, start_new_session=True)
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
        """Page takes past --max-take-seconds stop (also without updates); finished ones are deleted
        after TAKE_KEEP_S; a stream whose take failed is recorded again once it has ended and come back."""
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            self.given_up &= set(self.fanout.streams)
            now = time.monotonic()
            for take in list(self.pages.values()):
                if take.finishing is None and now >= take.deadline:
                    log.info("take %s of stream %s reached --max-take-seconds", take.id, take.stream)
                    self.finish(take)
                elif take.finished_at is not None and now - take.finished_at > TAKE_KEEP_S:
                    self._forget(take)

    def _forget(self, take: Take) -> None:
        self.pages.pop(take.id, None)
        shutil.rmtree(take.folder, ignore_errors=True)

    def close(self) -> None:
        """At exit: every take stops; automatic ones get their files (waited for up to STOP_WAIT_S, then the
        conversion goes on by itself), the page's are dropped with their folder."""
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
                log.info("take of stream %s: %.1f s, its files are being written", take.stream,
                         take.recorder.duration_ms / 1000)
        self.recording.clear()
        if journals:
            self._convert(journals)
        deadline = time.monotonic() + STOP_WAIT_S
        for process in list(self.conversions):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)

    # ------------------------------------------------------------ HTTP: the page's takes

    def spool(self) -> Path:
        if self._spool is None:
            self._spool = Path(tempfile.mkdtemp(prefix="live2d-pose-takes-"))  # mode 0700
        return self._spool

    def route(self, request: Request, route: str):
        """POST /record, POST /record/stop (a coroutine for websockets to await), GET /takes/ID/NAME;
        None for other paths."""
        if route in ROUTES:
            return self._answer(request, route)
        if route.startswith(DOWNLOADS):
            return self._guarded(lambda: self._download(request, route))
        return None

    async def _answer(self, request: Request, route: str) -> Response:
        if route == "/record":
            try:
                return await self._start_page_take(request)
            except TakeError as exc:
                return self._refused(exc)
        try:
            take = self._page_take(request)
            await self.finish(take)
        except TakeError as exc:
            return httpserve.error(exc.status, exc.message)
        if take.error and not take.files:
            return httpserve.error(HTTPStatus.INSUFFICIENT_STORAGE, f"the take failed: {take.error}")
        return httpserve.json_body(take.describe())

    def _guarded(self, answer) -> Response:
        try:
            return answer()
        except TakeError as exc:
            return self._refused(exc)

    def _refused(self, exc: TakeError) -> Response:
        if exc.status in (HTTPStatus.FORBIDDEN, HTTPStatus.UNAUTHORIZED, HTTPStatus.TOO_MANY_REQUESTS):
            self.counters["takes_refused"] += 1
        return httpserve.error(exc.status, exc.message)

    def _query(self, request: Request) -> dict[str, str]:
        """The request's query once it may record: not another site's page, the viewer token."""
        if not self.origins.allows(request):
            raise TakeError(HTTPStatus.FORBIDDEN, f"a page of {request.headers['Origin'][:200]!r} may not record "
                                                  "(--allowed-origins)")
        try:
            params = service.parse_query(request.path)
            service.check_token(params.get("token", ""), self.config.viewer_token, "viewer")
        except ClientError as exc:
            status = HTTPStatus.UNAUTHORIZED if exc.code == "unauthorized" else HTTPStatus.BAD_REQUEST
            raise TakeError(status, exc.message) from None
        return params

    async def _start_page_take(self, request: Request) -> Response:
        params = self._query(request)
        stream = params.get("stream") or self.fanout.latest_stream()
        if not stream or stream not in self.fanout.streams:
            live = ", ".join(sorted(self.fanout.streams)) or "none"
            raise TakeError(HTTPStatus.NOT_FOUND, f"no stream {stream!r} to record; live now: {live}"
                            if stream else f"no stream to record; live now: {live}")
        recording = [t for t in self.pages.values() if t.finishing is None]
        if len(recording) >= self.config.max_takes:
            raise TakeError(HTTPStatus.TOO_MANY_REQUESTS, f"{self.config.max_takes} take(s) are being recorded "
                                                          "already (--max-takes)")
        take_id = secrets.token_hex(TAKE_ID_BYTES)
        folder = self.spool() / take_id
        folder.mkdir()
        take = self._start(stream, folder, automatic=False, take_id=take_id)
        take.deadline = time.monotonic() + self.config.max_take_seconds
        self.pages[take_id] = take
        await take.opening
        if take.recorder is None:
            self._forget(take)
            raise TakeError(HTTPStatus.INSUFFICIENT_STORAGE, take.error)
        return httpserve.response(HTTPStatus.CREATED, json.dumps(
            {"take": take_id, "stream": stream, "formats": self.formats,
             "maxSeconds": self.config.max_take_seconds}).encode() + b"\n", "application/json")

    def _page_take(self, request: Request) -> Take:
        take = self.pages.get(self._query(request).get("take", ""))
        if take is None:
            raise TakeError(HTTPStatus.NOT_FOUND, "no such take (finished takes are kept "
                                                  f"{TAKE_KEEP_S / 60:.0f} minutes)")
        return take

    def _download(self, request: Request, route: str) -> Response:
        take_id, _, name = route[len(DOWNLOADS):].partition("/")
        self._query(request)  # the token, where one is set
        take = self.pages.get(take_id)
        files = {p.name: p for p in (take.files if take is not None and take.finished_at is not None else [])}
        if name not in files:
            raise TakeError(HTTPStatus.NOT_FOUND, "no such file (finished takes are kept "
                                                  f"{TAKE_KEEP_S / 60:.0f} minutes)")
        body = files[name].read_bytes()
        answer = httpserve.response(HTTPStatus.OK, body, "application/octet-stream")
        answer.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return answer

