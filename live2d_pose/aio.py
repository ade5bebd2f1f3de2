"""What ingest and the gateway share as asyncio servers of WebSockets and ZeroMQ."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Coroutine

import zmq
from websockets.asyncio.server import Server, ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

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


async def serve_until_stopped(
    server: Server, stopping: asyncio.Event, reader: SocketReader, background: Coroutine, on_stop: Callable[[], None]
) -> None:
    """Run the ZeroMQ reader and one background loop until ``stopping``, then wind down:
    ``on_stop``, close the WebSocket server (and its connections), stop the rest."""
    reader.start()
    task = asyncio.create_task(background)
    await stopping.wait()
    on_stop()
    server.close(close_connections=True)
    await server.wait_closed()
    await cancel_and_wait(task)
    reader.stop()


async def cancel_and_wait(*tasks: asyncio.Future) -> None:
    """Cancel ``tasks`` and wait until each has ended. A cancellation can be lost: before
    Python 3.12, ``asyncio.wait_for`` swallows one that arrives as its inner wait completes,
    and the task runs on; so cancel again until it is done, never wait on it blindly."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    for task in tasks:  # retrieve outcomes, so none is reported as never retrieved
        if not task.cancelled():
            task.exception()


class BinaryFrames:
    """A binary message's WebSocket frame, serialized once for all the connections it goes to: a
    server's frames are not masked, and these servers negotiate no extensions (``compression=None``),
    so the frame's bytes are the same on each. Keeps the last message's."""

    def __init__(self) -> None:
        self._data: bytes | None = None
        self._frame = b""

    def of(self, data: bytes) -> bytes:
        if data is not self._data:
            self._frame = Frame(Opcode.BINARY, data).serialize(mask=False)
            self._data = data
        return self._frame


def write_frame_now(websocket: ServerConnection, frame: bytes) -> bool:
    """Write a whole frame (BinaryFrames) to an open connection now, if nothing is waiting in its
    transport's buffer (the kernel takes it at once); False otherwise: then ``websocket.send``, which
    waits for the browser, takes the message. websockets' broadcast() writes like this too, but frames
    the message for each connection and writes whatever the connection's backlog."""
    if (
        websocket.protocol.state is not State.OPEN
        or websocket.protocol.extensions
        or websocket.send_in_progress is not None
        or websocket.transport.get_write_buffer_size()
    ):
        return False
    websocket.transport.write(frame)
    return True


def peer(websocket: ServerConnection) -> str:
    """host:port of the other end, for logs."""
    address = websocket.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"


def peer_host(websocket: ServerConnection) -> str:
    """The other end's address (a client, for per-client limits)."""
    address = getattr(websocket, "remote_address", None)
    return str(address[0]) if address else "?"


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
        self._loop.add_reader(self._fd(), self._drain)
        self.poke()  # anything that arrived before the reader was registered

    def _fd(self) -> int:
        """The file descriptor that becomes readable when ZeroMQ has events for the socket."""
        return int(self.socket.getsockopt(zmq.FD))

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fd())
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


class Background:
    """Tasks run in the background and held until they end (asyncio keeps only weak references:
    an unreferenced task can vanish mid-way)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Future] = set()

    def spawn(self, coroutine: Coroutine) -> asyncio.Future:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


class SupervisedTask:
    """A background task that never dies silently. When it ends with an exception (a bug, or a
    peer's reply nobody foresaw) its done-callback logs the error with its traceback and starts
    it again, after ``min_delay`` seconds doubling to ``max_delay`` while it keeps failing
    (a run that lasted ``max_delay`` or more starts the doubling over). A task that returns
    (a configuration error it has logged) stays ended; :meth:`stop` cancels it."""

    def __init__(
        self,
        factory: Callable[[], Coroutine],
        name: str,
        log: logging.Logger,
        min_delay: float = 1.0,
        max_delay: float = 30.0,
    ):
        self.factory = factory
        self.name = name
        self.log = log
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.delay = min_delay
        self.restarts = 0
        self.task: asyncio.Task | None = None
        self._started = 0.0
        self._restart: asyncio.TimerHandle | None = None
        self._stopping = False

    def start(self) -> None:
        self._restart = None
        self._started = time.monotonic()
        self.task = asyncio.create_task(self.factory(), name=self.name)
        self.task.add_done_callback(self._done)

    def done(self) -> bool:
        """Ended for good: returned, or stopped (a task waiting to be restarted is not done)."""
        return self.task is not None and self.task.done() and self._restart is None

    async def stop(self) -> None:
        self._stopping = True
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        if self.task is not None:
            await cancel_and_wait(self.task)

    def _done(self, task: asyncio.Task) -> None:
        if self._stopping or task.cancelled() or task.exception() is None:
            return
        if time.monotonic() - self._started >= self.max_delay:
            self.delay = self.min_delay
        self.restarts += 1
        self.log.error("%s failed; starting it again in %.1f s", self.name, self.delay, exc_info=task.exception())
        self._restart = asyncio.get_running_loop().call_later(self.delay, self.start)
        self.delay = min(self.delay * 2, self.max_delay)
