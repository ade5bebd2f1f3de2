"""The skeleton ingest and the gateway share: lifecycle and main, ZeroMQ open and close,
the error a client is refused with, and the token and query checks.

A service subclasses :class:`WebSocketService` and fills in what differs (its
handler, routes, WebSocket options, background loop, ZeroMQ sockets); the
order of start and shutdown, the signals, the listening and stopped log
lines and the exit codes are the same for both, here. The event loop side
(readers, signal handlers, close codes) is in aio.py; rogue-message
throttling in logs.ThrottledWarning; plain HTTP answers in httpserve.py.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import json
import logging
import socket
from typing import Any
from collections.abc import Callable, Coroutine
from urllib.parse import parse_qs

import zmq
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from live2d_pose import aio, curve, httpserve, wire
from live2d_pose.aio import CLOSE_POLICY
from live2d_pose.config import redacted

MAX_QUERY_FIELDS = 16


# ---------------------------------------------------------------- settings that cannot work

EXIT_SETTING_ERROR = 2  # `up` does not restart a service that exits with it (it would fail again)


class SettingError(ValueError):
    """A setting the service cannot start with (a port in use, a model file that is not
    there): said in one line, then the service exits 2."""


def listen_error(exc: OSError | zmq.ZMQError, address: str, port_flag: str, host_flag: str = "") -> str:
    """Why listening on ``address`` failed, in one line that names the flag to change."""
    where, host_flag = f"cannot listen on {address}", host_flag or port_flag
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: the port is in use (another live2d-pose running?); choose another with {port_flag}"
    if exc.errno in (errno.EADDRNOTAVAIL, errno.ENODEV) or isinstance(exc, socket.gaierror):
        return f"{where}: not an address of this machine; check {host_flag}"
    if exc.errno == errno.EACCES:
        return f"{where}: permission denied (ports below 1024 need privileges); choose another with {port_flag}"
    flags = port_flag if host_flag == port_flag else f"{host_flag} and {port_flag}"
    return f"{where}: {exc.strerror or exc}; check {flags}"


# ---------------------------------------------------------------- refusing clients


class ClientError(Exception):
    """Why a camera or viewer is refused: ``code`` for programs, ``message`` for people, and
    the WebSocket close code when the connection cannot go on (None: it stays open)."""

    def __init__(self, code: str, message: str, close_code: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code

    def to_message(self) -> str:
        return json.dumps({"type": "error", "code": self.code, "message": self.message})


def parse_query(path: str) -> dict[str, str]:
    """The first value of each query parameter of a request path; at most 16 fields."""
    try:
        params = parse_qs(path.partition("?")[2], max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:  # more than MAX_QUERY_FIELDS fields
        raise ClientError("bad_query", "too many query parameters", CLOSE_POLICY) from None
    return {name: values[0] for name, values in params.items()}


def check_stream_id(stream: str) -> str:
    """A camera's ``stream=`` or a viewer's: 1-64 of ``A-Za-z0-9._-``, so it is safe in logs,
    /metrics labels and the page (a ``%0A`` in it forged a line in the gateway's log)."""
    if len(stream) > wire.MAX_STREAM_ID_LENGTH or not wire.STREAM_ID.fullmatch(stream):  # "$" allows "\n"
        raise ClientError("bad_stream_id", "stream ids are 1-64 letters, digits, '.', '_' or '-'", CLOSE_POLICY)
    return stream


def check_token(given: str, expected: str, who: str) -> None:
    """Constant-time comparison, so a token cannot be guessed byte by byte; no token set: open."""
    if expected and not hmac.compare_digest(given.encode(), expected.encode()):
        raise ClientError("unauthorized", f"missing or wrong {who} token", CLOSE_POLICY)


# ---------------------------------------------------------------- ZeroMQ


class ZmqSockets:
    """A service's ZeroMQ: one context, its sockets, CURVE (server or client) and the
    allow-list thread, bind or connect, and one close for all of it.

    Sockets are plain (not zmq.asyncio): they are read from the event loop with
    aio.SocketReader and written with NOBLOCK, which costs far less per message."""

    def __init__(self, what: str, log: logging.Logger, secret_key_file: str = "", allow: str = ""):
        self.what = what
        self.log = log
        self.secret_key_file = secret_key_file
        self.allow = allow
        self.context = zmq.Context()
        self.sockets: list[zmq.Socket] = []
        self.authenticator = None

    def socket(self, kind: int, **options: int) -> zmq.Socket:
        """A new socket with options by name (``sndhwm=16``: pyzmq's attribute names)."""
        sock = self.context.socket(kind)
        for name, value in options.items():
            setattr(sock, name, value)
        self.sockets.append(sock)
        return sock

    def bind(self, sock: zmq.Socket, endpoint: str, flag: str = "its --*-bind setting") -> str:
        """Bind as a CURVE server when a secret key is configured (its allow-list too, started
        before the first bind); the real endpoint back (the port when it said :0).
        SettingError, naming ``flag`` (the setting of the endpoint), when it cannot be bound."""
        if self.allow and self.authenticator is None:
            self.authenticator = curve.start_allow_list(
                self.context, self.allow, self.secret_key_file, self.what, self.log
            )
        curve.make_server(sock, self.secret_key_file)
        try:
            sock.bind(endpoint)
        except zmq.ZMQError as exc:
            raise SettingError(listen_error(exc, endpoint, flag)) from None
        return sock.last_endpoint.decode()

    def connect(self, sock: zmq.Socket, endpoint: str, server_key: str | bytes = "", key_file: str = "") -> None:
        """Connect as a CURVE client of ``server_key`` (as ``key_file``'s pair) when one is given."""
        curve.make_client(sock, server_key, key_file)
        sock.connect(endpoint)

    def close(self, linger_ms: int = 100) -> None:
        for sock in self.sockets:
            sock.close(linger=linger_ms)
        if self.authenticator is not None:
            self.authenticator.stop()
        self.context.term()


# ---------------------------------------------------------------- lifecycle


class WebSocketService:
    """One WebSocket (and plain HTTP) port, ZeroMQ sockets read from the event loop, and a
    background loop, from start to a clean stop on SIGTERM or SIGINT.

    Subclasses set ``name`` and ``log`` and provide the handler, routes and the rest
    (see the methods that raise NotImplementedError)."""

    name = "service"
    log = logging.getLogger("live2d_pose")
    websocket_routes: tuple[str, ...] = ()
    post_routes: tuple[str, ...] = ()  # plain HTTP POSTs (bodiless) the router answers
    host_flag, port_flag = "--host", "--port"  # named when the port cannot be had

    def __init__(self, config: Any):
        self.config = config
        self.zmq = ZmqSockets(self.name, self.log, config.curve_secret_key_file, config.curve_allow)
        self.stopping = asyncio.Event()
        self.listening = asyncio.Event()  # set once the port and endpoints are real
        self.port = 0

    async def run(self) -> None:
        try:
            self.open_zmq()
            aio.stop_on_signals(self.stopping)
            server = await self._listen()
            async with server:
                self.port = server.sockets[0].getsockname()[1]
                self.listening.set()
                self.log.info("%s listening: %s; settings %s", self.name, self.describe(), redacted(self.config))
                await aio.serve_until_stopped(server, self.stopping, self.reader, self.background(), on_stop=self._stop)
        finally:
            self.zmq.close()
        self.log.info("%s stopped: %s", self.name, self.summary())

    async def _listen(self):
        options = {
            "ping_interval": aio.PING_INTERVAL,
            "ping_timeout": aio.PING_TIMEOUT,
            "close_timeout": aio.CLOSE_TIMEOUT,
            "compression": None,
            # names the service to a client at the wrong port (the camera client says which)
            "server_header": f"live2d-pose {self.name}",
            **self.serve_options(),
        }
        try:
            return await serve(
                self.handle, self.config.host, self.listen_port(), process_request=self.process_request, **options
            )
        except OSError as exc:
            raise SettingError(
                listen_error(exc, f"{self.config.host}:{self.listen_port()}", self.port_flag, self.host_flag)
            ) from None

    def _stop(self) -> None:
        self.log.info("%s stopping", self.name)
        self.on_stop()

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        return httpserve.answer(connection, request, self.route, self.websocket_routes, self.post_routes)

    # What each service fills in.
    reader: aio.SocketReader

    async def handle(self, websocket: ServerConnection) -> None:
        raise NotImplementedError

    def route(self, connection: ServerConnection, request: Request, route: str) -> Response | None:
        raise NotImplementedError

    def listen_port(self) -> int:
        raise NotImplementedError

    def serve_options(self) -> dict[str, Any]:
        return {}

    def open_zmq(self) -> None:
        raise NotImplementedError

    def background(self) -> Coroutine:
        raise NotImplementedError

    def describe(self) -> str:
        return ""

    def on_stop(self) -> None:
        pass

    def summary(self) -> dict:
        return {}


def main(make_service: Callable[[], WebSocketService], log: logging.Logger) -> int:
    """Run a service until it stops: 0; a setting it cannot work with (a bad CURVE key, a
    port in use): one line, and EXIT_SETTING_ERROR."""
    try:
        aio.run(make_service().run())
    except (curve.CurveError, SettingError) as exc:
        log.error("%s", exc)
        return EXIT_SETTING_ERROR
    return 0
