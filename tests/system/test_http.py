"""Plain HTTP on the two ports, as sent on the wire: odd requests get a
4xx and never a 500 with a traceback; HEAD has no body; other methods get 405.
In-process servers (live2d_pose.testing.inprocess): no MediaPipe needed."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.conftest import run
from live2d_pose.testing.inprocess import InProcess


async def raw_http(port: int, request: bytes) -> tuple[int | None, dict[str, str], bytes]:
    """Send bytes, read until the server closes: (status or None, headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    try:
        data = await asyncio.wait_for(reader.read(), 10)
    except ConnectionResetError:
        data = b""
    writer.close()
    if not data:
        return None, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def get(path: bytes, *headers: bytes, method: bytes = b"GET") -> bytes:
    return b"\r\n".join([method + b" " + path + b" HTTP/1.1", b"Host: x", *headers, b"", b""])


@pytest.fixture
def servers_log(caplog):
    caplog.set_level(logging.INFO)
    return caplog


ODD_REQUESTS = [  # (request, status) on either port
    (get(b"/a\x00b"), 400),  # a NUL byte in the path
    (get(b"/" + b"a" * 4000), 404),  # long, but a path: not found (no file system error)
    (get(b"/" + b"a" * 5000), 414),
    (get(b"/healthz", b"Origin: http://a", b"Origin: http://b"), 400),
    (get(b"/healthz", method=b"PUT") + b"", 405),
    (get(b"/healthz", b"Content-Length: 0", method=b"POST"), 405),
    (get(b"/healthz", method=b"DELETE"), 405),
]


def test_odd_requests_get_4xx_not_500(servers_log):
    async def body():
        async with InProcess(workers=0) as pipe:
            for port in (pipe.camera_port, pipe.gateway_server.port):
                for request, status in ODD_REQUESTS:
                    got, headers, _ = await raw_http(port, request)
                    assert got == status, (port, request[:60], got)
                    if status == 405:
                        assert headers["Allow"] == "GET, HEAD"
                # a WebSocket handshake with two Origin headers, on the gateway's /ws
            upgrade = (
                b"Upgrade: websocket",
                b"Connection: Upgrade",
                b"Sec-WebSocket-Version: 13",
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            )
            got, _, _ = await raw_http(
                pipe.gateway_server.port, get(b"/ws", b"Origin: http://a", b"Origin: http://b", *upgrade)
            )
            assert got == 400
            got, headers, _ = await raw_http(pipe.gateway_server.port, get(b"/ws", *upgrade, method=b"HEAD"))
            assert got == 405 and headers["Allow"] == "GET"
            # a request with a body: websockets itself closes it, with no page and no 500
            got, _, _ = await raw_http(
                pipe.gateway_server.port, get(b"/", b"Content-Length: 2", method=b"POST") + b"hi"
            )
            assert got in (None, 400), got

    run(body())
    assert "Traceback" not in servers_log.text and "failed" not in servers_log.text, servers_log.text


def test_head_has_headers_and_no_body():
    async def body():
        async with InProcess(workers=0) as pipe:
            for port, path in (
                (pipe.gateway_server.port, b"/"),
                (pipe.gateway_server.port, b"/streams"),
                (pipe.camera_port, b"/healthz"),
                (pipe.camera_port, b"/stats"),
            ):
                _, get_headers, get_body = await raw_http(port, get(path))
                status, headers, head_body = await raw_http(port, get(path, method=b"HEAD"))
                assert (status, head_body) == (200, b""), path
                assert headers["Content-Length"] == get_headers["Content-Length"] == str(len(get_body))
                assert headers["Content-Type"] == get_headers["Content-Type"]

    run(body())
