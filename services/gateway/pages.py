"""Plain HTTP answers on the gateway's port: the viewer's static files and JSON.

websockets answers HTTP requests through its ``process_request`` hook, which is
all a handful of static files and status endpoints need; no second server.
"""

from __future__ import annotations

import json
import mimetypes
from http import HTTPStatus
from pathlib import Path

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Response

NOT_BUILT_PAGE = """<!doctype html><meta charset="utf-8"><title>live2d-pose</title>
<body style="font-family:sans-serif;margin:2em"><h1>live2d-pose gateway</h1>
<p>The viewer page is not built. Run <code>make web</code> (or <code>make run</code>),
or point <code>--web-root</code> at a built <code>web/dist</code>.</p>
<p>Results are flowing on <code>/ws</code>; see <a href="streams">/streams</a>.</p></body>
"""


def json_response(connection: ServerConnection, payload: object) -> Response:
    return text_response(connection, json.dumps(payload) + "\n", "application/json")


def text_response(connection: ServerConnection, body: str, content_type: str) -> Response:
    return _response(HTTPStatus.OK, body.encode(), content_type)


def _response(status: HTTPStatus, body: bytes, content_type: str, cache: str = "no-cache") -> Response:
    headers = Headers({"Content-Type": content_type, "Content-Length": str(len(body)),
                       "Cache-Control": cache, "X-Content-Type-Options": "nosniff"})
    return Response(status.value, status.phrase, headers, body)


class StaticFiles:
    """Files under one folder, read on each request (they are few and small)."""

    def __init__(self, root: str):
        self.root = Path(root).resolve()

    def respond(self, connection: ServerConnection, route: str) -> Response:
        if route in ("", "/"):
            route = "/index.html"
        path = (self.root / route.lstrip("/")).resolve()
        if not path.is_relative_to(self.root):  # no ../ escapes
            return _response(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
        if path.is_file():
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if content_type.startswith("text/") or content_type.endswith("javascript"):
                content_type += "; charset=utf-8"
            return _response(HTTPStatus.OK, path.read_bytes(), content_type)
        if route == "/index.html":
            return _response(HTTPStatus.OK, NOT_BUILT_PAGE.encode(), "text/html; charset=utf-8")
        return _response(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
