"""What a connection may hold before it is a camera, and what unfinished messages may hold.

Two bounds that keep ingest's file descriptors and memory in check whatever
clients do, both kept from the transport's callbacks, so
they hold before any handler runs:

- **Connections in the handshake** (accepted, not yet ``ready``: idle sockets
  that never send a request, WebSockets that never send ``imageSize``, and
  plain HTTP requests such as ``/healthz`` while they are answered) are capped
  at ``max_handshakes``. A new connection over the cap evicts the *oldest*
  one, so a flood of idle connections cannot lock out a health check or an
  honest camera: they finish their handshake in milliseconds, idle ones never
  do. (The handshake deadline, the server's, closes the rest.)
- **Unfinished messages** (a frame still arriving, or a fragmented message
  without its last fragment) together may hold ``max_partial_bytes``. Over it,
  the connection holding the most is closed with ``busy`` (1013, try later).

An evicted connection is read no more from that moment, so what it holds
stops growing; it gets an error (``busy``, close 1013) and is dropped within
the close timeout, whether or not it answers the closing handshake.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from live2d_pose.logs import ThrottledWarning

log = logging.getLogger("live2d_pose.ingest")


class Admission:
    def __init__(self, max_handshakes: int, max_partial_bytes: int, close_code: int, close_timeout: float):
        self.max_handshakes = max_handshakes
        self.max_partial_bytes = max_partial_bytes
        self.close_code = close_code
        self.close_timeout = close_timeout
        self.handshaking: dict[ServerConnection, None] = {}  # insertion order: oldest first
        self.partial: dict[ServerConnection, int] = {}  # bytes of the unfinished message, when > 0
        self.partial_total = 0
        self.evicted: set[ServerConnection] = set()  # closed by us, not yet gone
        self.handshakes_evicted = ThrottledWarning(log)
        self.partial_evicted = ThrottledWarning(log)

    @property
    def counts(self) -> dict[str, int]:
        return {"handshakes_evicted": self.handshakes_evicted.count, "partial_evicted": self.partial_evicted.count}

    def connection_class(self) -> Callable[..., ServerConnection]:
        """The ``create_connection`` factory for websockets' ``serve``: reports to this object."""
        admission = self

        class AdmittedConnection(ServerConnection):
            def connection_made(self, transport) -> None:
                super().connection_made(transport)
                self.accepted_at = time.monotonic()  # the handshake deadline counts from here
                admission.arrived(self)

            def data_received(self, data: bytes) -> None:
                super().data_received(data)
                admission.buffered(self, _unfinished_bytes(self))

            def connection_lost(self, exc: Exception | None) -> None:
                admission.left(self)
                super().connection_lost(exc)

        return AdmittedConnection

    # ------------------------------------------------------------ handshakes

    def arrived(self, connection: ServerConnection) -> None:
        self.handshaking[connection] = None
        if len(self.handshaking) > self.max_handshakes:
            oldest = next(iter(self.handshaking))
            self.handshakes_evicted(
                "more than %d connections in the handshake: the oldest is closed", self.max_handshakes
            )
            self._evict(oldest, "busy", "too many connections are opening; try again")

    def registered(self, connection: ServerConnection) -> None:
        """The connection finished its handshake (a camera now, counted by max_streams)."""
        self.handshaking.pop(connection, None)

    def left(self, connection: ServerConnection) -> None:
        self.handshaking.pop(connection, None)
        self.evicted.discard(connection)
        self.partial_total -= self.partial.pop(connection, 0)

    # ------------------------------------------------------------ unfinished messages

    def buffered(self, connection: ServerConnection, size: int) -> None:
        """``connection`` now holds ``size`` bytes of a message it has not finished sending."""
        if connection in self.evicted:
            return  # closed: no more of its data is read, and what it held is freed with it
        self.partial_total += size - self.partial.get(connection, 0)
        if size:
            self.partial[connection] = size
        else:
            self.partial.pop(connection, None)
        while self.partial_total > self.max_partial_bytes:
            largest = max(self.partial, key=self.partial.__getitem__)
            self.partial_evicted(
                "unfinished messages hold %d bytes, over %d: closing the largest holder (%d bytes)",
                self.partial_total,
                self.max_partial_bytes,
                self.partial[largest],
            )
            self._evict(largest, "busy", "ingest holds too much unfinished data; try again")

    # ------------------------------------------------------------ closing

    def _evict(self, connection: ServerConnection, code: str, message: str) -> None:
        """Stop reading it now; tell it why if it speaks WebSocket; drop it within close_timeout."""
        self.handshaking.pop(connection, None)
        self.partial_total -= self.partial.pop(connection, 0)  # nothing more of it is read
        self.evicted.add(connection)
        if connection.protocol.state is not State.OPEN:
            connection.transport.abort()  # still sending its HTTP request: nothing to tell it
            return
        connection.transport.pause_reading()
        # websockets' sans-I/O layer, synchronously: an error, a close frame and a half-close.
        # Closing the socket at once would reset the connection of a peer still sending, and
        # it would never read why; the async close() would wait for a closing handshake that
        # a hostile peer never answers. So: give it close_timeout to read, then drop it.
        error = json.dumps({"type": "error", "code": code, "message": message})
        connection.protocol.send_text(error.encode())
        connection.protocol.fail(self.close_code, code)
        connection.send_data()
        asyncio.get_running_loop().call_later(self.close_timeout, connection.transport.abort)
        # Free what it holds now, not when it is dropped: the frame still arriving, and the
        # fragments received so far (ending the frame stream makes the handler let go of them).
        connection.protocol.reader.buffer.clear()
        connection.recv_messages.close()


def _unfinished_bytes(connection: ServerConnection) -> int:
    """Bytes of the message being received: earlier fragments, plus the frame still arriving."""
    protocol = connection.protocol
    return (protocol.current_size or 0) + len(protocol.reader.buffer)
