"""A real OSC UDP server for tests: python-osc's dispatcher on a loopback port, in a thread.

It stands where VSeeFace / VNyan / Warudo would listen (their VMC receiver)
and records every message of every bundle it receives.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer


@dataclass
class OscMessage:
    address: str
    args: tuple
    at: float  # monotonic time of arrival


@dataclass
class OscReceiver:
    port: int = 0
    messages: list[OscMessage] = field(default_factory=list)
    _server: ThreadingOSCUDPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> OscReceiver:
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._record)
        self._server = ThreadingOSCUDPServer(("127.0.0.1", self.port), dispatcher)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _record(self, address: str, *args) -> None:
        with self._lock:
            self.messages.append(OscMessage(address, args, time.monotonic()))

    def received(self, address: str | None = None) -> list[OscMessage]:
        with self._lock:
            return [m for m in self.messages if address is None or m.address == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 30.0) -> list[OscMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.received(address)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(
            f"only {len(self.received(address))} {address} within {timeout} s; "
            f"got {sorted({m.address for m in self.received()})}"
        )

    def bones(self, name: str) -> list[tuple]:
        """The (p.x ... q.w) of every /VMC/Ext/Bone/Pos for bone `name`."""
        return [m.args[1:] for m in self.received("/VMC/Ext/Bone/Pos") if m.args[0] == name]
