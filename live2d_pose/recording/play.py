"""``live2d-pose play``: a take published as a stream, as if a camera were live.

    live2d-pose play dance.vrma --stream dance --loop

It reads the .vrma (vrma.read_vrma: the body states of its frames, whatever
tool wrote it) and sends each frame on time to the gateway's /publish
WebSocket as a motion message (docs/protocol.md, "Played streams"): the
gateway publishes it to that stream's viewers, the VMC and VTube Studio
outputs and its recorders like a camera's motion, mirrored for those who ask.
With --loop it starts again after the last frame until Ctrl-C; a lost
gateway is reconnected, and the take goes on where the clock says it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from live2d_pose import aio, wire
from live2d_pose.config import PlayConfig
from live2d_pose.recording.vrma import read_vrma
from live2d_pose.rig.motion import SEEN, Motion, MotionEncoder
from live2d_pose.rig.solve import BodyState

log = logging.getLogger("live2d_pose.play")

EXIT_FAILED = 1
EXIT_SETTING = 2
RECONNECT_MIN, RECONNECT_MAX = 0.5, 10.0
# A refusal that would be the same at every try: say it and stop.
FINAL_REFUSALS = ("unauthorized", "bad_stream_id", "bad_query", "stream_live", "replaced")


class Refused(Exception):
    """The gateway will not take this stream (a wrong token, a name a camera uses ...)."""


def main(config: PlayConfig) -> int:
    take = Path(config.take)
    if not config.take:
        log.error("name the take to play: live2d-pose play take.vrma")
        return EXIT_SETTING
    try:
        frames = read_vrma(take)
    except (OSError, ValueError) as exc:
        log.error("cannot play %s: %s", take, exc)
        return EXIT_SETTING
    if len(frames) < 2:
        log.error("cannot play %s: it has %d frame(s)", take, len(frames))
        return EXIT_SETTING
    player = Player(config, frames)
    aio.run(player.run())
    return player.code


def publish_url(gateway_url: str, stream: str, token: str) -> str:
    parts = urlsplit(gateway_url)
    query = dict(parse_qsl(parts.query))
    query["stream"] = stream
    if token:
        query["token"] = token
    return urlunsplit(parts._replace(query=urlencode(query)))


def frame_motion(stream: str, seq: int, t_ms: float, state: BodyState) -> Motion:
    """One frame of the take as a motion message's content (unmirrored; the gateway derives the rest)."""
    trackers = {
        "face": state.seen.get("face"),
        "pose": state.seen.get("pose"),
        "hands": state.seen.get("leftHand") or state.seen.get("rightHand"),
    }
    return Motion(
        stream=stream,
        session=0,
        seq=seq,
        mirror=False,
        ts={"ingest": t_ms},
        tracks=[k for k, seen in trackers.items() if seen],
        times={k: t_ms if seen else None for k, seen in trackers.items()},
        seen={k: bool(state.seen.get(k)) for k in SEEN},
        bones=dict(state.bones),
        expressions=dict(state.expressions),
        blendshapes=dict(state.blendshapes or {}),
        gaze=dict(state.gaze or {"yaw": 0.0, "pitch": 0.0}),
        live2d={},
        hips_position=getattr(state, "hips_position", None),
        t=t_ms,
    )


class Player:
    """Sends the frames on the wall clock: frame k of loop n at start + n * period + its time."""

    def __init__(self, config: PlayConfig, frames: list[tuple[float, BodyState]]):
        self.config = config
        self.frames = frames
        self.step_ms = frames[1][0] - frames[0][0]
        self.period_ms = frames[-1][0] + self.step_ms  # one loop: the last frame shows for one step too
        self.url = publish_url(config.gateway_url, config.stream, config.camera_token)
        self.stopping = asyncio.Event()
        self.sent = 0
        self.code = 0
        self.start_ms: float | None = None  # the wall clock at frame 0 of the first loop

    async def run(self) -> None:
        aio.stop_on_signals(self.stopping)
        log.info(
            "playing %s (%.1f s, %d frames) as stream %s at %s%s",
            self.config.take,
            self.period_ms / 1000,
            len(self.frames),
            self.config.stream,
            self.config.gateway_url.split("?")[0],
            ", looped until Ctrl-C" if self.config.loop else "",
        )
        delay = RECONNECT_MIN
        while not self.stopping.is_set():
            try:
                finished = await self._connection()
                if finished:
                    break
                delay = RECONNECT_MIN
            except Refused as exc:
                log.error("the gateway refused the stream: %s", exc)
                self.code = EXIT_SETTING
                return
            except InvalidURI as exc:
                log.error("bad gateway URL %r: %s", self.config.gateway_url, exc)
                self.code = EXIT_SETTING
                return
            except (OSError, InvalidHandshake, ConnectionClosed, asyncio.TimeoutError) as exc:
                if isinstance(exc, InvalidStatus) and exc.response.status_code in (401, 403, 404):
                    log.error(
                        "the gateway refused the connection: HTTP %d (%s)",
                        exc.response.status_code,
                        exc.response.body.decode(errors="replace").strip()[:200],
                    )
                    self.code = EXIT_SETTING
                    return
                log.warning(
                    "the gateway at %s is out of reach (%s); trying again in %.1f s",
                    self.config.gateway_url,
                    exc or type(exc).__name__,
                    delay,
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            delay = min(2 * delay, RECONNECT_MAX)
        log.info("played %d frames as stream %s", self.sent, self.config.stream)

    async def _connection(self) -> bool:
        """One connection; True when the take is over (played once, or stopped)."""
        async with connect(self.url, open_timeout=10, close_timeout=2, compression=None, max_size=1 << 16) as ws:
            ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if ready.get("type") == "error":
                raise Refused(f"{ready.get('message')} ({ready.get('code')})")
            log.info("publishing stream %s", ready.get("stream"))
            encoder = MotionEncoder()  # a new connection starts with a full message
            reader = asyncio.ensure_future(self._read(ws))
            try:
                return await self._send(ws, encoder, reader)
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

    async def _read(self, ws) -> None:
        """The gateway's errors (a camera took the name over, a bad message)."""
        async for message in ws:
            if isinstance(message, str):
                error = json.loads(message)
                if error.get("code") in FINAL_REFUSALS:
                    raise Refused(f"{error.get('message')} ({error.get('code')})")
                log.warning("the gateway says: %s", error.get("message"))

    async def _send(self, ws, encoder: MotionEncoder, reader: asyncio.Future) -> bool:
        if self.start_ms is None:
            self.start_ms = wire.now_ms()
        stop = asyncio.ensure_future(self.stopping.wait())
        last = None
        try:
            while not self.stopping.is_set():
                if reader.done():
                    reader.result()  # a refusal, or the connection ended
                    return False
                loop, at = divmod(wire.now_ms() - self.start_ms, self.period_ms)
                if loop >= 1 and not self.config.loop:
                    return True
                index = min(int(at // self.step_ms), len(self.frames) - 1)  # late: frames are skipped, as a camera's
                t_take, state = self.frames[index]
                t = self.start_ms + loop * self.period_ms + t_take
                if (loop, index) != last:
                    last = (loop, index)
                    self.sent += 1
                    seq = int(loop) * len(self.frames) + index + 1  # the frame's number in the take, over the loops
                    await ws.send(encoder.update(frame_motion(self.config.stream, seq, t, state)).delta)
                await asyncio.wait(
                    [reader, stop],
                    timeout=max(0.001, (t + self.step_ms - wire.now_ms()) / 1000),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            return True
        finally:
            stop.cancel()
