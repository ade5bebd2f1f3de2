"""Plain HTTP answers on a websockets port, shared by ingest and the gateway.

websockets hands every HTTP request to a ``process_request`` hook, which is
all a few status endpoints and static files need; no second server. This
module is that hook's frame: :func:`answer` refuses what no route should see
(a method other than GET and HEAD, a path with control characters or over
:data:`MAX_PATH` characters, a repeated ``Origin``) with a 4xx instead of a
traceback and a 500, runs the service's router, and answers HEAD with the
headers of GET and no body.

websockets itself closes a request that carries a body (a POST with data)
without any answer; a bodiless POST or PUT reaches the hook and gets 405,
but on a route the service names as a POST route (the gateway's takes).

:class:`OriginPolicy` decides which browser pages may open a WebSocket. A
browser sends the page's ``Origin`` with every WebSocket handshake, and the
same-origin policy does not apply to WebSockets: without this check any web
page the user visits can open ``ws://127.0.0.1:8765/image`` (binding to
localhost does not stop a browser on the same machine) and send frames under
another camera's name, or read results from ``/ws``. Programs (cameras, OBS,
scripts) send no ``Origin`` and are not browsers acting for a user, so they
pass.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from http import HTTPStatus
from collections.abc import Callable
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

MAX_PATH = 4096  # characters of path and query: room for long tokens; websockets stops at 8 KB lines
ALLOWED_METHODS = "GET, HEAD"

Router = Callable[[ServerConnection, Request, str], "Response | None"]
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


class OriginPolicy:
    """``allowed``: a comma list of origins (``http://host:port``), ``*`` for any, ``null`` for
    pages without one (files, sandboxed frames). ``same_origin``: pages served from this very
    host and port (the gateway's viewer) pass too. Requests without an Origin always pass."""

    def __init__(self, allowed: str, same_origin: bool):
        entries = [entry.strip() for entry in allowed.split(",") if entry.strip()]
        self.any = "*" in entries
        self.allowed = {_origin_key(entry) for entry in entries if entry != "*"}
        self.same_origin = same_origin

    def allows(self, request: Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None or self.any:
            return True
        key = _origin_key(origin)
        return key in self.allowed or (self.same_origin and key[1:] == _host_key(request, key[0]))

    def refusal(self, request: Request) -> Response | None:
        """HTTP 403 for a page that may not open the socket; None when it may."""
        if self.allows(request):
            return None
        return error(
            HTTPStatus.FORBIDDEN, f"origin {request.headers['Origin'][:200]!r} is not allowed (--allowed-origins)"
        )


def _origin_key(origin: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of an Origin, lower case, the scheme's default port filled in."""
    try:
        parts = urlsplit(origin.strip().rstrip("/").lower())
        return parts.scheme, parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a port that is not a number
        return "", origin, None


def _host_key(request: Request, scheme: str) -> tuple[str, int | None]:
    """(host, port) the request was sent to, by its Host header; no port: the scheme's default."""
    try:
        parts = urlsplit("//" + request.headers.get("Host", "").lower())
        return parts.hostname or "", parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return "", None


def answer(
    connection: ServerConnection,
    request: Request,
    route_request: Router,
    websocket_routes: tuple[str, ...],
    post_routes: tuple[str, ...] = (),
) -> Response | None:
    """The ``process_request`` hook: a Response, or None to go on with a WebSocket handshake. A POST
    route (bodiless: its parameters are in the query) may answer with a coroutine, which websockets awaits."""
    route = request.path.partition("?")[0]
    refusal = _refusal(request, route, websocket_routes, post_routes)
    if refusal is not None:
        return refusal
    response = route_request(connection, request, route)
    if response is not None and request.method == "HEAD":
        return _headers_only(response) if inspect.isawaitable(response) else _without_body(response)
    return response


def _without_body(response: Response) -> Response:
    return dataclasses.replace(response, body=b"")  # Content-Length stays GET's


async def _headers_only(pending) -> Response | None:
    response = await pending
    return None if response is None else _without_body(response)


def _refusal(
    request: Request, route: str, websocket_routes: tuple[str, ...], post_routes: tuple[str, ...] = ()
) -> Response | None:
    if len(request.path) > MAX_PATH:
        return error(HTTPStatus.REQUEST_URI_TOO_LONG, f"paths are limited to {MAX_PATH} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in request.path):
        return error(HTTPStatus.BAD_REQUEST, "control characters in the path")
    if len(request.headers.get_all("Origin")) > 1:
        return error(HTTPStatus.BAD_REQUEST, "more than one Origin header")
    allowed = "POST" if route in post_routes else "GET" if route in websocket_routes else ALLOWED_METHODS
    if request.method not in allowed.split(", "):
        response = error(HTTPStatus.METHOD_NOT_ALLOWED, f"{request.method[:16]} is not allowed here")
        response.headers["Allow"] = allowed
        return response
    return None


def response(status: HTTPStatus, body: bytes, content_type: str, cache: str = "no-cache") -> Response:
    headers = Headers(
        {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            "Cache-Control": cache,
            "X-Content-Type-Options": "nosniff",
        }
    )
    return Response(status.value, status.phrase, headers, body)


def text(body: str, content_type: str = "text/plain; charset=utf-8", status: HTTPStatus = HTTPStatus.OK) -> Response:
    return response(status, body.encode(), content_type)


def json_body(payload: object) -> Response:
    return text(json.dumps(payload) + "\n", "application/json")


def error(status: HTTPStatus, message: str) -> Response:
    return text(message + "\n", status=status)
