"""Plain HTTP answers on the gateway's port: the viewer's static files and JSON.

Served through live2d_pose/httpserve.py (the ``process_request`` frame both
servers share), which has already refused bad methods and paths.
"""

from __future__ import annotations

import mimetypes
from http import HTTPStatus
from pathlib import Path

from websockets.http11 import Response

from live2d_pose.httpserve import response

NOT_BUILT_PAGE = """<!doctype html><meta charset="utf-8"><title>live2d-pose</title>
<body style="font-family:sans-serif;margin:2em"><h1>live2d-pose gateway</h1>
<p>The viewer page is not built. Run <code>make web</code> (or <code>make run</code>),
or point <code>--web-root</code> at a built <code>web/dist</code>.</p>
<p>Results are flowing on <code>/ws</code>; see <a href="streams">/streams</a>.</p></body>
"""


class StaticFiles:
    """Files under one folder, read on each request (they are few and small)."""

    def __init__(self, root: str):
        self.root = Path(root).resolve()

    def respond(self, route: str) -> Response:
        if route in ("", "/"):
            route = "/index.html"
        try:
            path = (self.root / route.lstrip("/")).resolve()
            found = path.is_relative_to(self.root) and path.is_file()  # no ../ escapes
        except (OSError, ValueError):  # a name too long for the file system, a NUL byte
            found = False
        if found:
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if content_type.startswith("text/") or content_type.endswith("javascript"):
                content_type += "; charset=utf-8"
            return response(HTTPStatus.OK, path.read_bytes(), content_type)
        if route == "/index.html":
            return response(HTTPStatus.OK, NOT_BUILT_PAGE.encode(), "text/html; charset=utf-8")
        return response(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
