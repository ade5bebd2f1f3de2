"""`live2d-pose vts`: a VTube Studio plugin that feeds VTS's face tracking parameters.

It follows VTube Studio's public API (github.com/DenchiSoft/VTubeStudio):

1. connect to ws://127.0.0.1:8001 (VTS: Settings, "Start API (allow plugins)");
2. authenticate: with the token saved from an earlier run (AuthenticationRequest),
   or by asking for one (AuthenticationTokenRequest: VTS shows the user a popup
   once; "Allow" returns the token, which is kept in a file only the user can
   read). A token VTS refuses (the user revoked the plugin) is deleted and a
   new one requested; a denied request (error 50) is logged and asked again
   later, with a growing delay;
3. ask which tracking parameters this VTS has (InputParameterListRequest);
4. per motion message with a face seen: InjectParameterDataRequest with faceFound true and
   VTS's default parameters (FaceAngleX/Y/Z, FacePositionX/Y/Z, EyeOpenLeft/Right,
   EyeLeftX/Y, EyeRightX/Y, Brows, BrowLeftY/RightY, MouthOpen, MouthSmile,
   MouthX, CheekPuff, FaceAngry), re-sent at least every half second while the
   face is fresh, since VTS drops a parameter it has not heard of for a second.

One request is in flight at a time and the newest result wins, so a slow VTS
never builds a queue. When VTS goes away the plugin reconnects with backoff,
which starts over only once a session has authenticated (a VTS that accepts and
drops the connection is not retried every second).

Replies are parsed defensively: a reply that is not JSON, nests too deeply,
has fields of the wrong type or is over 4 MiB is logged and never kills the
plugin. Only VTS saying the token is not accepted (``"authenticated": false``,
error 8 or 50) discards it, and a token request that fails in any way (denied,
dropped, unanswered) is not repeated for 30 s, doubling to 10 minutes: no reply
can make VTS show its popup again and again. The connection task runs under
``aio.SupervisedTask``: an error nobody foresaw is logged with its traceback
and the task starts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from live2d_pose.aio import SupervisedTask
from live2d_pose.config import VtsConfig
from live2d_pose.logs import ThrottledWarning
from live2d_pose.outputs.base import Output
from live2d_pose.outputs.peer import json_object, shown
from live2d_pose.rig.motion import Motion
from live2d_pose.rig.quat import clamp

log = logging.getLogger("live2d_pose.outputs.vts")

API_NAME = "VTubeStudioPublicAPI"
API_VERSION = "1.0"
PLUGIN_NAME = "live2d-pose"  # 3..32 characters; the token is bound to these two names
PLUGIN_DEVELOPER = "live2d-pose project"
# Error ids (VTubeStudio/Files/ErrorID.cs)
REQUEST_REQUIRES_AUTHENTICATION = 8
TOKEN_REQUEST_DENIED = 50
TOKEN_REQUEST_ONGOING = 51
INJECT_PARAM_NOT_FOUND = 453
INJECT_PARAM_CONTROLLED_BY_OTHER_PLUGIN = 454

RESEND_EVERY = 0.5  # seconds: VTS forgets a parameter not re-sent within 1 s
FACE_FRESH_FOR = 2.0  # seconds a face is re-sent after the last result that had one
REQUEST_TIMEOUT = 10.0
TOKEN_TIMEOUT = 600.0  # the user has this long to click Allow in VTS's popup
RECONNECT_MIN, RECONNECT_MAX = 1.0, 30.0
DENIED_RETRY_MIN, DENIED_RETRY_MAX = 30.0, 600.0
FACE_DISTANCE_CM = 45.0  # the camera distance that FacePositionZ calls 0
MAX_TOKEN_CHARS = 2000  # VTS's tokens are 64 hex digits; a longer answer is not one
MAX_REPLY_BYTES = 1 << 22  # VTS's answers are a few KB; a bigger one closes the connection (1009)

# What we send, in VTS's default parameter names and ranges.
PARAMETERS = (
    "FaceAngleX",
    "FaceAngleY",
    "FaceAngleZ",
    "FacePositionX",
    "FacePositionY",
    "FacePositionZ",
    "EyeOpenLeft",
    "EyeOpenRight",
    "EyeLeftX",
    "EyeLeftY",
    "EyeRightX",
    "EyeRightY",
    "Brows",
    "BrowLeftY",
    "BrowRightY",
    "MouthOpen",
    "MouthSmile",
    "MouthX",
    "CheekPuff",
    "FaceAngry",
)


def vts_parameters(motion: Motion) -> dict[str, float]:
    """The motion (the avatar's view: mirrored when asked) -> VTS's default tracking parameters
    (their names and ranges).

    Angles, eyes, mouth and brows are the rig's Live2D parameters, the ones
    the viewer page shows (VTS's default mappings feed them to the same Live2D
    ids), moved to VTS's 0..1 ranges where VTS uses one. Positions come from
    the facial matrix, in cm; x is the avatar's left.
    """
    p = motion.live2d
    bs = motion.blendshapes
    x_cm, y_cm, z_cm = motion.head_position or (0.0, 0.0, -FACE_DISTANCE_CM)
    return {
        "FaceAngleX": p["ParamAngleX"],
        "FaceAngleY": p["ParamAngleY"],
        "FaceAngleZ": p["ParamAngleZ"],
        # the head toward the avatar's left moves the model to the screen's right
        "FacePositionX": clamp(x_cm, -15.0, 15.0),
        "FacePositionY": clamp(y_cm, -15.0, 15.0),
        "FacePositionZ": clamp((FACE_DISTANCE_CM + z_cm) / 2.0, -10.0, 10.0),  # closer: larger
        "EyeOpenLeft": p["ParamEyeLOpen"],
        "EyeOpenRight": p["ParamEyeROpen"],
        "EyeLeftX": p["ParamEyeBallX"],
        "EyeLeftY": p["ParamEyeBallY"],
        "EyeRightX": p["ParamEyeBallX"],
        "EyeRightY": p["ParamEyeBallY"],
        "Brows": clamp(((p["ParamBrowLY"] + p["ParamBrowRY"]) / 2 + 1.0) / 2.0, 0.0, 1.0),
        "BrowLeftY": clamp((p["ParamBrowLY"] + 1.0) / 2.0, 0.0, 1.0),
        "BrowRightY": clamp((p["ParamBrowRY"] + 1.0) / 2.0, 0.0, 1.0),
        "MouthOpen": p["ParamMouthOpenY"],
        "MouthSmile": clamp((p["ParamMouthForm"] + 1.0) / 2.0, 0.0, 1.0),
        # the avatar's own sides, like every other value here (mirrored: the subject's mouthRight)
        "MouthX": clamp((bs.get("mouthLeft", 0.0) - bs.get("mouthRight", 0.0)) * 2.0, -1.0, 1.0),
        "CheekPuff": clamp(bs.get("cheekPuff", 0.0), 0.0, 1.0),
        "FaceAngry": motion.expressions.get("angry", 0.0),
    }


class TokenStore:
    """The plugin's VTS token in a file only its owner can read or write (0600, folder 0700)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()

    def load(self) -> str | None:
        try:
            token = self.path.read_text().strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read the VTube Studio token from %s (%s); asking for a new one", self.path, exc)
            return None
        return token or None

    def save(self, token: str) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        os.chmod(temporary, 0o600)  # in case the file existed with wider rights
        os.replace(temporary, self.path)

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class ApiError(Exception):
    """VTS answered with messageType APIError."""

    def __init__(self, error_id: int, message: str):
        super().__init__(f"error {error_id}: {message}")
        self.error_id = error_id

    @classmethod
    def from_reply(cls, data: dict) -> ApiError:
        """From an APIError's data, whatever its fields hold (-1: no usable errorID)."""
        error_id = data.get("errorID")
        if not isinstance(error_id, int) or isinstance(error_id, bool):
            error_id = -1
        return cls(error_id, shown(data.get("message", "")))


def parameter_names(data: dict) -> set[str]:
    """The parameter names an InputParameterListResponse lists; entries of the wrong shape are skipped."""
    names = set()
    for key in ("defaultParameters", "customParameters"):
        entries = data.get(key)
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                names.add(entry["name"])
    return names


class AccessDenied(Exception):
    """The user denied (or revoked) the plugin in VTube Studio."""


class VtsOutput(Output):
    name = "vts"

    def __init__(self, config: VtsConfig):
        self.config = config
        self.tokens = TokenStore(config.token_file)
        self.latest: dict[str, float] | None = None
        self.latest_at = 0.0  # monotonic time of the latest face
        self.fresh = asyncio.Event()
        self.available: set[str] = set(PARAMETERS)
        self.task = SupervisedTask(self._run, "the VTube Studio connection", log, RECONNECT_MIN, RECONNECT_MAX)
        self.websocket = None
        self.ids = itertools.count(1)
        self.counters = {
            "faces": 0,
            "injected": 0,
            "skipped": 0,
            "errors": 0,
            "connects": 0,
            "token_requests": 0,
            "denied": 0,
            "bad_replies": 0,
        }
        self._reported: set[int] = set()
        self.bad_reply = ThrottledWarning(log, self.counters, "bad_replies")
        self._token_delay = 0.0  # seconds before another token request may go out, after one failed
        self._token_not_before = 0.0  # monotonic
        self.delay = RECONNECT_MIN  # before the next reconnect: doubles until a session authenticates

    def describe(self) -> str:
        return f"VTube Studio at {self.config.vts_url}, token file {self.tokens.path}"

    async def start(self) -> None:
        self.task.start()

    def send(self, motion: Motion) -> None:
        if not motion.seen["face"]:
            return  # not injecting: VTS lets our parameters go after 1 s and sees no face
        if self.fresh.is_set():
            self.counters["skipped"] += 1  # the previous one was never sent: newest wins
        self.latest = vts_parameters(motion)
        self.latest_at = time.monotonic()
        self.counters["faces"] += 1
        self.fresh.set()

    async def stop(self) -> None:
        await self.task.stop()

    def summary(self) -> dict:
        return self.counters | {"restarts": self.task.restarts}

    # ------------------------------------------------------------ connection

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                async with connect(
                    self.config.vts_url, open_timeout=10, close_timeout=2, max_size=MAX_REPLY_BYTES
                ) as websocket:
                    self.websocket = websocket
                    self.counters["connects"] += 1
                    failures = 0
                    log.info("connected to VTube Studio at %s", self.config.vts_url)
                    await self._session()
            except InvalidURI as exc:
                log.error("bad VTube Studio URL %r: %s", self.config.vts_url, exc)
                return
            except AccessDenied as exc:
                self.counters["denied"] += 1
                wait = max(0.0, self._token_not_before - time.monotonic())
                log.error(
                    "%s. Allow live2d-pose in VTube Studio when it asks (or in its settings, "
                    "under plugins); asking again in %.0f s",
                    exc,
                    wait,
                )
                await asyncio.sleep(wait)
                continue
            except (OSError, InvalidHandshake, asyncio.TimeoutError) as exc:
                failures += 1
                if failures == 1 or failures % 10 == 0:
                    log.warning(
                        'cannot reach VTube Studio at %s (%s); is it running with "Start API '
                        '(allow plugins)" on? Retrying every %.0f s at most',
                        self.config.vts_url,
                        str(exc) or exc.__class__.__name__,
                        RECONNECT_MAX,
                    )
            except ConnectionClosed as exc:
                log.warning(
                    "VTube Studio closed the connection (%s); reconnecting in %.1f s", shown(str(exc)), self.delay
                )
            finally:
                self.websocket = None
            await asyncio.sleep(self.delay)
            self.delay = min(self.delay * 2, RECONNECT_MAX)

    async def _session(self) -> None:
        await self._authenticate()
        await self._learn_parameters()
        self.delay = RECONNECT_MIN  # a session that got this far: the next reconnect is quick again
        await self._inject_loop()

    # ------------------------------------------------------------ requests

    async def request(self, message_type: str, data: dict | None = None, timeout: float | None = None) -> dict:
        """Send one request and wait for its response's data (REQUEST_TIMEOUT unless told);
        ApiError for an APIError answer."""
        timeout = REQUEST_TIMEOUT if timeout is None else timeout
        request_id = f"live2d-pose-{next(self.ids)}"
        payload = {"apiName": API_NAME, "apiVersion": API_VERSION, "requestID": request_id, "messageType": message_type}
        if data is not None:
            payload["data"] = data
        await self.websocket.send(json.dumps(payload))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise asyncio.TimeoutError(f"no answer to {message_type} within {timeout:.0f} s")
            raw = await asyncio.wait_for(self.websocket.recv(), remaining)
            answer = json_object(raw)
            if answer is None:
                self.bad_reply(
                    "VTube Studio sent a message that is not a JSON object (%d characters); ignored", len(raw)
                )
                continue
            if answer.get("requestID") != request_id:
                continue  # an event or a late answer to an earlier request
            body = answer.get("data") if isinstance(answer.get("data"), dict) else {}
            if answer.get("messageType") == "APIError":
                raise ApiError.from_reply(body)
            return body

    async def _authenticate(self) -> None:
        token = self.tokens.load()
        if token is not None:
            if await self._authenticate_with(token):
                log.info("authenticated with VTube Studio (saved token)")
                return
            log.warning("VTube Studio refused the saved token (the plugin was revoked?); asking for a new one")
            self.tokens.delete()
        token = await self._request_token()
        if not await self._authenticate_with(token):
            self.tokens.delete()
            raise AccessDenied("VTube Studio refused the token it just gave us")
        self._token_delay, self._token_not_before = 0.0, 0.0  # it worked: no wait next time
        log.info("authenticated with VTube Studio")

    async def _authenticate_with(self, token: str) -> bool:
        data = await self.request(
            "AuthenticationRequest",
            {"pluginName": PLUGIN_NAME, "pluginDeveloper": PLUGIN_DEVELOPER, "authenticationToken": token},
        )
        return data.get("authenticated") is True

    async def _request_token(self) -> str:
        """Ask the user for access (VTS shows a popup): never again within the token delay
        after a request that failed in any way, so no reply can make the popup come back."""
        wait = self._token_not_before - time.monotonic()
        if wait > 0:
            log.info("asking VTube Studio for access again in %.0f s", wait)
            await asyncio.sleep(wait)
        self.counters["token_requests"] += 1
        log.info('asking VTube Studio for access: click "Allow" in the popup VTube Studio shows')
        # the next request waits, unless this one ends with a token VTS accepts (_authenticate)
        self._token_delay = min(max(DENIED_RETRY_MIN, self._token_delay * 2), DENIED_RETRY_MAX)
        self._token_not_before = time.monotonic() + self._token_delay
        try:
            data = await self.request(
                "AuthenticationTokenRequest",
                {"pluginName": PLUGIN_NAME, "pluginDeveloper": PLUGIN_DEVELOPER},
                timeout=TOKEN_TIMEOUT,
            )
        except ApiError as exc:
            if exc.error_id in (TOKEN_REQUEST_DENIED, TOKEN_REQUEST_ONGOING):
                raise AccessDenied(f"VTube Studio did not give live2d-pose access ({exc})") from None
            raise
        token = data.get("authenticationToken")
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise AccessDenied("VTube Studio answered the token request without a usable token")
        self.tokens.save(token)
        log.info("VTube Studio gave live2d-pose access; token saved in %s", self.tokens.path)
        return token

    async def _learn_parameters(self) -> None:
        """Send only parameters this VTS has: an unknown one makes VTS refuse the whole request."""
        names = parameter_names(await self.request("InputParameterListRequest"))
        if not names:  # an old VTS that does not list them: trust the documented defaults
            log.info("VTube Studio listed no parameters this plugin could read; sending its documented ones")
            return
        self.available = set(PARAMETERS) & names
        missing = sorted(set(PARAMETERS) - names)
        if missing:
            log.warning("this VTube Studio lacks %s; not sending them", ", ".join(missing))

    # ------------------------------------------------------------ injection

    async def _inject_loop(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.fresh.wait(), RESEND_EVERY)
            self.fresh.clear()
            if self.latest is None or time.monotonic() - self.latest_at > FACE_FRESH_FOR:
                continue  # no face lately: say nothing, VTS falls back after 1 s
            await self._inject(self.latest)

    async def _inject(self, values: dict[str, float]) -> None:
        data = {
            "faceFound": True,
            "mode": "set",
            "parameterValues": [
                {"id": name, "value": round(float(value), 5)}
                for name, value in values.items()
                if name in self.available
            ],
        }
        try:
            await self.request("InjectParameterDataRequest", data)
        except ApiError as exc:
            self.counters["errors"] += 1
            if exc.error_id in (TOKEN_REQUEST_DENIED, REQUEST_REQUIRES_AUTHENTICATION):
                self.tokens.delete()
                log.warning("VTube Studio no longer accepts live2d-pose (%s); asking for access again", exc)
                await self._authenticate()
                return
            if exc.error_id == INJECT_PARAM_NOT_FOUND:
                await self._learn_parameters()
            if exc.error_id not in self._reported:
                self._reported.add(exc.error_id)
                hint = (
                    " (another plugin controls one of these parameters)"
                    if exc.error_id == INJECT_PARAM_CONTROLLED_BY_OTHER_PLUGIN
                    else ""
                )
                log.warning("VTube Studio refused our parameters: %s%s", exc, hint)
            return
        self.counters["injected"] += 1
