"""What ingest and the gateway share as asyncio WebSocket servers."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Coroutine

from websockets.asyncio.server import ServerConnection

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


def peer(websocket: ServerConnection) -> str:
    """host:port of the other end, for logs."""
    address = websocket.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"
