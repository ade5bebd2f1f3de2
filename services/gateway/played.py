"""Played streams: motion a program publishes (``live2d-pose play``), shown as if a camera were live.

A player connects to ``/publish?stream=NAME&token=SECRET`` and sends motion
messages (docs/protocol.md, "Played streams": the format the gateway sends,
unmirrored, with ``t``), one per frame of its take. Each goes to the
stream's rig, a PlayedRig: it shows the state as it came (a take was
smoothed when it was recorded: smoothing it again would only add lag),
derives the Live2D parameters as a camera's rig does, and when the frames
stop eases everything to rest like a camera's rig. Viewers, outputs and
recorders get the stream's motion like any other's, mirrored or not.

The security model stays the cameras': publishing a stream takes the camera
token (``--camera-token``, ingest's), never the viewer's; a browser page may
never publish (any request with an Origin is refused: players are programs);
a name a camera streams under is refused, and a camera that starts under a
played stream's name takes it over (the player is closed with ``replaced``).
Players are bounded (``--max-played``), their messages too (size, rate).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from live2d_pose import aio, httpserve, service, wire
from live2d_pose.config import GatewayConfig
from live2d_pose.gateway.fanout import Fanout
from live2d_pose.logs import ThrottledWarning
from live2d_pose.rig import Rig
from live2d_pose.rig.filter import TUNING, FilterBank
from live2d_pose.rig.live2d import NEUTRAL, eye_stabilizer_yaw, face_params
from live2d_pose.rig.motion import Motion, MotionError, MotionState
from live2d_pose.rig.results import Tracking
from live2d_pose.rig.quat import angle_between
from live2d_pose.rig.solve import PARTS, BodyState, rest_rotation
from live2d_pose.service import ClientError

log = logging.getLogger("live2d_pose.gateway.played")

ROUTE = "/publish"
MAX_MESSAGE = 64 * 1024  # a full motion message is about 2 KB
MAX_RATE = 120.0  # messages a second read from a player; a faster one is read no faster (TCP slows it)
MAX_BAD_IN_A_ROW = 30
MOVED_RAD = 1e-4  # a bone of a take this far from its rest: its part was followed
CLOSE_REPLACED = 4000  # as ingest's: another source now streams under this name


def played_parts(bones: dict) -> dict[str, float]:
    """A take holds the avatar's bones, not which parts the rig followed: a part with a bone away from its
    rest is shown as followed (a viewer frames the whole body by the legs' parts; Live2D sways with them)."""
    def moved(bone: str) -> bool:
        return bone in bones and angle_between(bones[bone], rest_rotation(bone)) > MOVED_RAD

    return {part: float(any(moved(bone) for bone in part_bones)) for part, (part_bones, _) in PARTS.items()}


class PlayedRig(Rig):
    """A stream whose states come solved and smoothed (a take). ``play`` shows one as it is; ``ease``
    (the gateway's clock, once frames stop) eases from the last one to rest as a camera's rig does."""

    def __init__(self) -> None:
        super().__init__()
        self.primed = False  # the smoothing was started at the last frame shown (easing from there)

    def play(self, stream: str, session: int, motion: Motion, received_ms: float) -> None:
        t = self.clock.to_local(motion.t, received_ms)  # the player's clock onto this process's
        self.last_arrival = max(self.last_arrival, received_ms)
        self.latest = Tracking(stream=stream, seq=motion.seq, width=0, height=0, session=session,
                               ts={**motion.ts, "gateway": received_ms}, tracks=tuple(motion.tracks),
                               received_ms=received_ms)
        state = BodyState(t=t, times={k: None if v is None else t for k, v in motion.times.items()},
                          seen=dict(motion.seen), bones=dict(motion.bones), expressions=dict(motion.expressions),
                          gaze=dict(motion.gaze) if motion.gaze else None, blendshapes=dict(motion.blendshapes) or None)
        state.hips_position = motion.hips_position
        state.parts = played_parts(state.bones)
        self.state = self.smoothed = state
        self.ingest_times = dict(motion.times)
        self.updated = list(motion.tracks)
        self.face_position_cm = None
        self.face_params = (face_params(state.blendshapes, eye_stabilizer_yaw(state)) if state.blendshapes
                            else dict(NEUTRAL))
        self.primed = False
        self.steps += 1

    def ease(self, now_ms: float) -> None:
        if not self.primed:  # every channel's filter starts where the take stopped, then eases to rest
            self.primed = True
            self.state_filter.start_from(self.smoothed)
            self.face_filter = FilterBank(TUNING)
            self.face_filter(self.face_params, self.smoothed.t)
        super().ease(now_ms)


def check_stream_id(stream: str) -> str:
    """A stream id as cameras': 1-64 of A-Za-z0-9._-."""
    if len(stream) > wire.MAX_STREAM_ID_LENGTH or not wire.STREAM_ID.fullmatch(stream):
        raise ClientError("bad_stream_id", "stream ids are 1-64 letters, digits, '.', '_' or '-'", aio.CLOSE_POLICY)
    return stream


class Players:
    """The /publish connections: one per played stream."""

    def __init__(self, config: GatewayConfig, fanout: Fanout, motion, counters: dict):
        self.config = config
        self.fanout = fanout
        self.motion = motion  # motion.MotionHub
        self.counters = counters
        for name in ("played_streams", "played_frames", "played_refused", "played_bad_messages"):
            counters.setdefault(name, 0)
        self.bad = ThrottledWarning(log, counters, "played_bad_messages")
        self.playing: dict[str, tuple[int, ServerConnection]] = {}  # stream -> (session, connection)

    def refusal(self, request: Request) -> Response | None:
        """Browser pages never publish: a request with an Origin gets 403 before the handshake."""
        if request.headers.get("Origin") is None:
            return None
        self.counters["played_refused"] += 1
        return httpserve.error(HTTPStatus.FORBIDDEN, "web pages may not publish a stream")

    def camera_started(self, stream: str) -> None:
        """Ingest announced a camera under ``stream``: a player of that name gives it up."""
        if stream in self.playing:
            session, websocket = self.playing.pop(stream)
            self.fanout.stream_ended(stream)  # the camera's stream starts afresh (its session, its size)
            error = ClientError("replaced", f"a camera now streams as {stream!r}", CLOSE_REPLACED)
            asyncio.ensure_future(_refuse(websocket, error))

    async def handle(self, websocket: ServerConnection) -> None:
        try:
            stream = self._admit(websocket.request.path)
        except ClientError as exc:
            self.counters["played_refused"] += 1
            await _refuse(websocket, exc)
            return
        session = wire.new_session()
        self.playing[stream] = (session, websocket)
        self.counters["played_streams"] += 1
        self.fanout.stream_started(stream, 0, 0, time.monotonic(), session)
        log.info("player %s publishes stream %s", aio.peer(websocket), stream)
        frames = 0
        try:
            await websocket.send(json.dumps({"type": "ready", "stream": stream, "session": session}))
            frames = await self._read(websocket, stream, session)
        except ConnectionClosed:
            pass
        finally:
            if self.playing.get(stream, (None,))[0] == session:
                del self.playing[stream]
                self.fanout.stream_ended(stream)  # its viewers get "ended"; the rig eases to rest
            log.info("player %s of stream %s left after %d frames", aio.peer(websocket), stream, frames)

    def _admit(self, path: str) -> str:
        params = service.parse_query(path)
        service.check_token(params.get("token", ""), self.config.camera_token, "camera")
        stream = check_stream_id(params.get("stream", ""))
        if stream in self.playing or stream in self.fanout.streams:
            raise ClientError("stream_live", f"stream {stream!r} is live already; choose another name",
                              aio.CLOSE_POLICY)
        if len(self.playing) >= self.config.max_played:
            raise ClientError("too_many_played", f"{self.config.max_played} streams are played already "
                                                 "(--max-played)", aio.CLOSE_TRY_LATER)
        return stream

    async def _read(self, websocket: ServerConnection, stream: str, session: int) -> int:
        held, frames, bad = MotionState(), 0, 0
        next_at = time.monotonic()
        async for message in websocket:
            if self.playing.get(stream, (None,))[0] != session:
                break  # a camera took the name over
            try:
                motion = _frame(held, message)
            except MotionError as exc:
                bad += 1
                self.bad("player of stream %s: %s", stream, exc)
                if bad >= MAX_BAD_IN_A_ROW:
                    await _refuse(websocket, ClientError("too_many_bad_messages", f"{bad} bad messages in a row",
                                                         aio.CLOSE_POLICY))
                    break
                with contextlib.suppress(ConnectionClosed):
                    await websocket.send(ClientError("bad_motion", str(exc)).to_message())
                continue
            bad = 0
            frames += 1
            self.counters["played_frames"] += 1
            now = time.monotonic()
            if stream not in self.fanout.streams:  # ended for silence (a paused player): live again
                self.fanout.stream_started(stream, 0, 0, now, session)
            self.fanout.played(stream, now, motion.tracks)
            self.motion.on_played(stream, session, motion, wire.now_ms())
            next_at = max(next_at + 1 / MAX_RATE, now)
            if next_at > now:
                await asyncio.sleep(next_at - now)  # a flood is read no faster than MAX_RATE
        return frames


def _frame(held: MotionState, message) -> Motion:
    """One message -> the whole current Motion of the take; MotionError when it is unusable."""
    if not isinstance(message, bytes):
        raise MotionError("text: players send binary motion messages")
    ignored = held.ignored
    motion = held.apply(message)
    if motion is None or held.ignored != ignored:
        raise MotionError("a delta without the full message it builds on (the first must be full, all of "
                          "one 'stream')")
    if motion.mirror:
        raise MotionError("a played take is unmirrored (the subject's own sides): mirror must be false")
    if motion.t is None:
        raise MotionError("'t' (the frame's time, ms) is required")
    return motion


async def _refuse(websocket: ServerConnection, exc: ClientError) -> None:
    log.warning("player %s: %s (%s)", aio.peer(websocket), exc.message, exc.code)
    with contextlib.suppress(ConnectionClosed):
        await websocket.send(exc.to_message())
        await websocket.close(exc.close_code or aio.CLOSE_POLICY, exc.code)
