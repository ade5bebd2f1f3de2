"""The viewer page's takes over HTTP: the page asks, the gateway records (takes.py) and serves the files.

    POST /record?stream=ID          201 {"take": ID, ...}: recording from now
    POST /record/stop?take=ID       200 {"files": [{"name", "url", "bytes"}], ...} once the files are written
    GET  /takes/ID/NAME             the file (an attachment), for TAKE_KEEP_S after the take stopped

(docs/protocol.md, "Takes"). Recording writes to the gateway's disk, so a
web page of another site may not start it: the request's Origin must be the
gateway's own page or in --allowed-origins (a browser always sends one with
a POST; programs send none, as on /ws). The viewer token is needed where one
is set, downloads included; a take id is 128 random bits. At most
--max-takes record at once, each for --max-take-seconds; the files wait in a
folder only the gateway's user can open, removed at exit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import shutil
import tempfile
import time
from http import HTTPStatus
from pathlib import Path

from websockets.http11 import Request, Response

from live2d_pose import httpserve, service
from live2d_pose.gateway.settings import GatewayConfig
from live2d_pose.gateway.fanout import Fanout
from live2d_pose.gateway.takes import Take, Takes
from live2d_pose.service import ClientError

log = logging.getLogger("live2d_pose.gateway.takes")

ROUTES = ("/record", "/record/stop")  # POST
DOWNLOADS = "/takes/"  # GET /takes/ID/NAME
TAKE_KEEP_S = 600.0  # a finished take waits this long to be downloaded
CHECK_EVERY_S = 5.0
TAKE_ID_BYTES = 16


class TakeError(Exception):
    """A request that cannot be served: its status and a line for people."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def describe(take: Take) -> dict:
    recorder = take.recorder
    return {
        "take": take.id,
        "stream": take.stream,
        "seconds": round(recorder.duration_ms / 1000, 3) if recorder else 0.0,
        "updates": recorder.samples if recorder else 0,
        "error": take.error or None,
        "files": [
            {"name": p.name, "url": f"takes/{take.id}/{p.name}", "bytes": p.stat().st_size}
            for p in take.files
            if p.exists()
        ],
    }


class PageTakes:
    """The page's takes by id, recording or finished, and the HTTP that starts, stops and serves them."""

    def __init__(self, takes: Takes, config: GatewayConfig, fanout: Fanout, counters: dict):
        self.takes = takes
        self.config = config
        self.fanout = fanout
        self.counters = counters
        counters.setdefault("takes_refused", 0)
        self.pages: dict[str, Take] = {}
        self.origins = httpserve.OriginPolicy(config.allowed_origins, same_origin=True)
        self._spool: Path | None = None  # made on first use

    def route(self, request: Request, route: str):
        """A coroutine answering a POST route (websockets awaits it), or GET /takes/ID/NAME's; None for
        other paths."""
        if route in ROUTES or route.startswith(DOWNLOADS):
            return self._answer(request, route)
        return None

    async def _answer(self, request: Request, route: str) -> Response:
        try:
            if route == "/record":
                return await self._start(request)
            if route == "/record/stop":
                return await self._stop(request)
            return await self._download(request, route)
        except TakeError as exc:
            if exc.status in (HTTPStatus.FORBIDDEN, HTTPStatus.UNAUTHORIZED, HTTPStatus.TOO_MANY_REQUESTS):
                self.counters["takes_refused"] += 1
            return httpserve.error(exc.status, exc.message)

    def _query(self, request: Request) -> dict[str, str]:
        """The request's query once it may record: not another site's page, the viewer token."""
        if not self.origins.allows(request):
            raise TakeError(
                HTTPStatus.FORBIDDEN,
                f"a page of {request.headers['Origin'][:200]!r} may not record (--allowed-origins)",
            )
        try:
            params = service.parse_query(request.path)
            service.check_token(params.get("token", ""), self.config.viewer_token, "viewer")
        except ClientError as exc:
            status = HTTPStatus.UNAUTHORIZED if exc.code == "unauthorized" else HTTPStatus.BAD_REQUEST
            raise TakeError(status, exc.message) from None
        return params

    async def _start(self, request: Request) -> Response:
        params = self._query(request)
        stream = params.get("stream") or self.fanout.latest_stream()
        if not stream or stream not in self.fanout.streams:
            live = ", ".join(sorted(self.fanout.streams)) or "none"
            raise TakeError(
                HTTPStatus.NOT_FOUND,
                f"no stream {stream!r} to record; live now: {live}"
                if stream
                else f"no stream to record; live now: {live}",
            )
        if self.config.max_takes <= 0:
            raise TakeError(HTTPStatus.FORBIDDEN, "this gateway records no takes for pages (--max-takes 0)")
        if sum(1 for t in self.pages.values() if t.finishing is None) >= self.config.max_takes:
            raise TakeError(
                HTTPStatus.TOO_MANY_REQUESTS,
                f"{self.config.max_takes} take(s) are being recorded already (--max-takes)",
            )
        take_id = secrets.token_hex(TAKE_ID_BYTES)
        folder = self._spool_dir() / take_id
        folder.mkdir()
        take = self.takes.start(stream, folder, automatic=False, take_id=take_id)
        take.deadline = time.monotonic() + self.config.max_take_seconds
        self.pages[take_id] = take
        await take.opening
        if take.recorder is None:
            self._forget(take)
            raise TakeError(HTTPStatus.INSUFFICIENT_STORAGE, take.error)
        return httpserve.response(
            HTTPStatus.CREATED,
            json.dumps(
                {
                    "take": take_id,
                    "stream": stream,
                    "formats": self.takes.formats,
                    "maxSeconds": self.config.max_take_seconds,
                }
            ).encode()
            + b"\n",
            "application/json",
        )

    async def _stop(self, request: Request) -> Response:
        take = self.pages.get(self._query(request).get("take", ""))
        if take is None:
            raise TakeError(
                HTTPStatus.NOT_FOUND, f"no such take (finished takes are kept {TAKE_KEEP_S / 60:.0f} minutes)"
            )
        await self.takes.finish(take)
        if take.error and not take.files:
            raise TakeError(HTTPStatus.INSUFFICIENT_STORAGE, f"the take failed: {take.error}")
        return httpserve.json_body(describe(take))

    async def _download(self, request: Request, route: str) -> Response:
        take_id, _, name = route[len(DOWNLOADS) :].partition("/")
        self._query(request)  # the token, where one is set
        take = self.pages.get(take_id)
        files = {p.name: p for p in (take.files if take is not None and take.finished_at is not None else [])}
        if name not in files:
            raise TakeError(
                HTTPStatus.NOT_FOUND, f"no such file (finished takes are kept {TAKE_KEEP_S / 60:.0f} minutes)"
            )
        body = await asyncio.to_thread(files[name].read_bytes)  # megabytes: not on the event loop
        answer = httpserve.response(HTTPStatus.OK, body, "application/octet-stream")
        answer.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return answer

    # ------------------------------------------------------------ the folder

    def _spool_dir(self) -> Path:
        if self._spool is None:
            self._spool = Path(tempfile.mkdtemp(prefix="live2d-pose-takes-"))  # mode 0700
        return self._spool

    def _forget(self, take: Take) -> None:
        self.pages.pop(take.id, None)
        shutil.rmtree(take.folder, ignore_errors=True)

    async def run(self) -> None:
        """Finished takes are deleted TAKE_KEEP_S after they stopped."""
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            now = time.monotonic()
            for take in [t for t in self.pages.values() if t.finished_at is not None]:
                if now - take.finished_at > TAKE_KEEP_S:
                    self._forget(take)

    def close(self) -> None:
        """At exit (after Takes.close): the folder goes, with every take in it."""
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
