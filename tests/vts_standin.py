"""A STAND-IN for VTube Studio's plugin API, for tests only.

VTube Studio is a closed desktop app that cannot run here, so the plugin is
tested against this small WebSocket server instead. It implements the
published API (github.com/DenchiSoft/VTubeStudio, README "API Details",
Files/ErrorID.cs) for exactly the messages the plugin uses, with the
published field names, error ids and checks:

- the envelope: apiName "VTubeStudioPublicAPI" (error 3), apiVersion "1.0"
  (4), requestID of 1..64 ASCII characters (5), messageType (6, unknown: 7);
  JSON that does not parse (2);
- AuthenticationTokenRequest: pluginName / pluginDeveloper of 3..32
  characters (52 / 53); the "user" allows (a token) or denies (error 50);
- AuthenticationRequest: authenticationToken / pluginName / pluginDeveloper
  present (100 / 101 / 102); "authenticated": false for an unknown or revoked
  token, or for names other than the token was given to;
- every other request needs an authenticated session (8); after the user
  revokes the plugin, every request gets error 50;
- InputParameterListRequest: the default parameters with VTS's ranges;
- InjectParameterDataRequest: parameterValues present and non-empty (450),
  each value a number within +-1000000 (451), weight within 0..1 (452), a
  known parameter (453), mode "set" or "add" (455).

It is NOT proof that the plugin works with VTube Studio; it is proof that the
plugin speaks the published protocol and handles its published errors.

``hostile[messageType] = reply(requestID)`` answers that request with whatever
``reply`` returns, sent as is: a malformed VTS (or something else on its port).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from collections.abc import Callable

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

API_NAME = "VTubeStudioPublicAPI"
# VTube Studio's default tracking parameters with their default ranges (its InputParameterListResponse).
DEFAULT_PARAMETERS = {
    "FacePositionX": (-15, 15),
    "FacePositionY": (-15, 15),
    "FacePositionZ": (-10, 10),
    "FaceAngleX": (-30, 30),
    "FaceAngleY": (-30, 30),
    "FaceAngleZ": (-90, 90),
    "MouthSmile": (0, 1),
    "MouthOpen": (0, 1),
    "Brows": (0, 1),
    "TongueOut": (0, 1),
    "CheekPuff": (0, 1),
    "FaceAngry": (0, 1),
    "BrowLeftY": (0, 1),
    "BrowRightY": (0, 1),
    "EyeOpenLeft": (0, 1),
    "EyeOpenRight": (0, 1),
    "EyeLeftX": (-1, 1),
    "EyeLeftY": (-1, 1),
    "EyeRightX": (-1, 1),
    "EyeRightY": (-1, 1),
    "MouthX": (-1, 1),
    "MousePositionX": (-1, 1),
    "MousePositionY": (-1, 1),
    "VoiceVolume": (0, 1),
    "VoiceFrequency": (0, 1),
}


class ApiError(Exception):
    def __init__(self, error_id: int, message: str):
        super().__init__(message)
        self.error_id = error_id


class VtsStandIn:
    """``async with VtsStandIn() as vts: vts.url``; ``vts.grant = False`` makes the user deny."""

    def __init__(self, port: int = 0, tokens: dict[str, tuple[str, str]] | None = None):
        self.port = port
        self.grant = True
        self.tokens: dict[str, tuple[str, str]] = dict(tokens or {})  # token -> (plugin, developer)
        self.requests: list[dict] = []  # every request received, parsed
        self.injections: list[tuple[float, dict]] = []  # (monotonic time, data) of accepted injections
        self.errors: list[int] = []  # error ids we answered
        self.token_requests = 0
        self.hostile: dict[str, Callable[[str | None], str]] = {}
        self._server = None
        self._sessions: list[dict] = []  # per connection: authenticated, revoked

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def __aenter__(self) -> VtsStandIn:
        self._server = await serve(self._session, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close(close_connections=True)
        await self._server.wait_closed()

    def revoke(self) -> None:
        """The user revokes the plugin in VTS: its tokens stop working, sessions get error 50."""
        self.tokens.clear()
        for session in self._sessions:
            session["revoked"] = True

    async def _session(self, websocket) -> None:
        session = {"authenticated": False, "revoked": False}
        self._sessions.append(session)
        try:
            async for raw in websocket:
                reply = self._hostile_reply(raw)
                await websocket.send(reply if reply is not None else json.dumps(await self._answer(raw, session)))
        except ConnectionClosed:
            pass

    def _hostile_reply(self, raw) -> str | None:
        try:
            request = json.loads(raw)
            kind = request["messageType"]
        except (ValueError, TypeError, KeyError):
            return None
        if kind not in self.hostile:
            return None
        self.requests.append(request)
        self.token_requests += kind == "AuthenticationTokenRequest"
        return self.hostile[kind](request.get("requestID"))

    async def _answer(self, raw, session: dict) -> dict:
        request_id = None
        try:
            try:
                request = json.loads(raw)
            except ValueError:
                raise ApiError(2, "JSON invalid") from None
            if not isinstance(request, dict):
                raise ApiError(2, "JSON invalid")
            self.requests.append(request)
            request_id = request.get("requestID")
            if request.get("apiName") != API_NAME:
                raise ApiError(3, "apiName invalid")
            if request.get("apiVersion") != "1.0":
                raise ApiError(4, "apiVersion invalid")
            if request_id is not None and not (
                isinstance(request_id, str) and 1 <= len(request_id) <= 64 and request_id.isascii()
            ):
                raise ApiError(5, "requestID invalid")
            kind = request.get("messageType")
            if not isinstance(kind, str) or not kind:
                raise ApiError(6, "messageType missing")
            data = request.get("data") if isinstance(request.get("data"), dict) else {}
            handler = getattr(self, "_on_" + kind, None)
            if handler is None:
                raise ApiError(7, f"unknown request type {kind}")
            if kind not in ("APIStateRequest", "AuthenticationTokenRequest", "AuthenticationRequest"):
                if session["revoked"]:
                    raise ApiError(50, "User has denied API access for your plugin.")
                if not session["authenticated"]:
                    raise ApiError(8, "Request requires authentication.")
            body = await handler(data, session)
            return self._envelope(request_id, kind.removesuffix("Request") + "Response", body)
        except ApiError as exc:
            self.errors.append(exc.error_id)
            return self._envelope(request_id, "APIError", {"errorID": exc.error_id, "message": str(exc)})

    def _envelope(self, request_id, kind: str, data: dict) -> dict:
        return {
            "apiName": API_NAME,
            "apiVersion": "1.0",
            "timestamp": int(time.time() * 1000),
            "messageType": kind,
            "requestID": request_id or str(uuid.uuid4()),
            "data": data,
        }

    async def _on_APIStateRequest(self, data, session):
        return {
            "active": True,
            "vTubeStudioVersion": "stand-in",
            "currentSessionAuthenticated": session["authenticated"],
        }

    async def _on_AuthenticationTokenRequest(self, data, session):
        self.token_requests += 1
        name, developer = data.get("pluginName"), data.get("pluginDeveloper")
        if not (isinstance(name, str) and 3 <= len(name) <= 32):
            raise ApiError(52, "pluginName invalid")
        if not (isinstance(developer, str) and 3 <= len(developer) <= 32):
            raise ApiError(53, "pluginDeveloper invalid")
        await asyncio.sleep(0.05)  # the user reads the popup
        if not self.grant:
            raise ApiError(50, "User has denied API access for your plugin.")
        token = uuid.uuid4().hex
        self.tokens[token] = (name, developer)
        return {"authenticationToken": token}

    async def _on_AuthenticationRequest(self, data, session):
        for key, error_id in (("authenticationToken", 100), ("pluginName", 101), ("pluginDeveloper", 102)):
            if not isinstance(data.get(key), str) or not data.get(key):
                raise ApiError(error_id, f"{key} missing")
        owner = self.tokens.get(data["authenticationToken"])
        ok = owner == (data["pluginName"], data["pluginDeveloper"])
        session["authenticated"], session["revoked"] = ok, False
        return {"authenticated": ok, "reason": "Token valid." if ok else "Token invalid or revoked."}

    async def _on_InputParameterListRequest(self, data, session):
        return {
            "modelLoaded": True,
            "modelName": "stand-in",
            "modelID": "stand-in",
            "customParameters": [],
            "defaultParameters": [
                {"name": n, "addedBy": "VTube Studio", "value": 0, "min": lo, "max": hi, "defaultValue": 0}
                for n, (lo, hi) in DEFAULT_PARAMETERS.items()
            ],
        }

    async def _on_InjectParameterDataRequest(self, data, session):
        if data.get("mode", "set") not in ("set", "add"):
            raise ApiError(455, "mode unknown")
        values = data.get("parameterValues")
        if not isinstance(values, list) or not values:
            raise ApiError(450, "no data provided")
        for item in values:
            value, weight = item.get("value"), item.get("weight", 1)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or abs(value) > 1_000_000:
                raise ApiError(451, "value invalid")
            if not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
                raise ApiError(452, "weight invalid")
            if item.get("id") not in DEFAULT_PARAMETERS:
                raise ApiError(453, f"parameter {item.get('id')!r} not found")
        self.injections.append((time.monotonic(), data))
        return {}
