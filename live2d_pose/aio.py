"""What ingest and the gateway share as asyncio servers of WebSockets and ZeroMQ."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Callable, Coroutine

import zmq
from websockets.asyncio.server import Server, ServerConnection

# WebSocket close codes used by both servers (RFC 6455 section 7.4.1).
CLOSE_WRONG_DATA = 1003
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_LATER = 1013
# Seconds a closing handshake may take: a peer gone off Wi-Fi (or a sleeping tab) never
# answers, and shutdown must not wait websockets' default 10 s per connection.
CLOSE_TIMEOUT = 2.0
# Keep-alive: a camera or browser that stops answering pings is dropped.
PING_INTERVAL = 10.0
PING_TIMEOUT = 20.0


def run(coroutine: Coroutine) -> None:
    """Run on uvloop when it is installed (extra "fast"): less CPU per message than asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


def stop_on_signals(stopping: asyncio.Event) -> None:
    """SIGTERM (docker stop, kubectl) and SIGINT (Ctrl-C) set ``stopping``."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)


async def serve_until_stopped(server: Server, stopping: asyncio.Event, reader: "SocketReader",
                              background: Coroutine, on_stop: Callable[[], None]) -> None:
    """Run the ZeroMQ reader and one background loop until ``stopping``, then wind down:
    ``on_stop``, close the WebSocket server (and its connections), stop the rest."""
    reader.start()
    task = asyncio.create_task(background)
    await stopping.wait()
    on_stop()
    server.close(close_connections=True)
    await server.wait_closed()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    reader.stop()


def peer(websocket: ServerConnection) -> str:
    """host:port of the other end, for logs."""
    address = websocket.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"


class SocketReader:
    """Feeds each message of a plain ZeroMQ socket to ``handle``, from the event loop.

    Cheaper per message than zmq.asyncio's future per receive (see
    docs/performance.md). ZeroMQ's FD is edge-triggered: it signals that the
    socket's state may have changed, and any send or receive on the socket can
    consume that signal. So each wake-up reads until EAGAIN (at most ``batch``
    messages, then the loop's other callbacks get a turn), and whoever sends
    on the same socket calls :meth:`poke` afterwards. ``handle`` must not raise.
    """

    def __init__(self, socket: zmq.Socket, handle: Callable[[list[bytes]], None], batch: int = 64):
        self.socket = socket
        self.handle = handle
        self.batch = batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False
        self._running = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.socket.getsockopt(zmq.FD), self._drain)
        self.poke()  # anything that arrived before the reader was registered

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.socket.getsockopt(zmq.FD))
            self._loop = None

    def poke(self) -> None:
        """Look for messages soon (after a send, which may have eaten the FD's signal)."""
        if self._loop is not None and not self._scheduled and not self._running:
            self._scheduled = True
            self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        self._scheduled = False
        self._running = True
        emptied = False
        try:
            for _ in range(self.batch):
                try:
                    parts = self.socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    emptied = True
                    return
                self.handle(parts)
        finally:
            self._running = False
            if not emptied:
                self.poke()  # more may be waiting
