"""The output interface, and the loop that feeds outputs the gateway's motion (they keep no rig)."""

from __future__ import annotations

import abc
import asyncio
import logging

from live2d_pose import aio
from live2d_pose.config import OutputConfig
from live2d_pose.outputs.peer import shown
from live2d_pose.outputs.source import GatewaySource, viewer_url
from live2d_pose.rig.motion import Motion

log = logging.getLogger("live2d_pose.outputs")


class Output(abc.ABC):
    """One app we drive. ``send`` is called on the event loop once per motion message and must not block."""

    name: str = "output"

    async def start(self) -> None:  # noqa: B027 (an optional hook: an output overrides what it needs)
        """Open sockets, start background tasks."""

    @abc.abstractmethod
    def send(self, motion: Motion) -> None:
        """Deliver the motion as it is now, after one message (queue it, never wait)."""

    def stream_ended(self, stream: str) -> None:  # noqa: B027 (an optional hook)
        """The followed stream ended: nobody is tracked until results come back."""

    async def stop(self) -> None:  # noqa: B027 (an optional hook)
        """Close everything; after this the summary is final."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where this output sends, for the start log line."""

    @abc.abstractmethod
    def summary(self) -> dict:
        """Counters for the stop log line."""


class Feeder:
    """The gateway's motion -> every output."""

    def __init__(self, outputs: list[Output]):
        self.outputs = outputs
        self.counters = {"motions": 0, "tracked": 0}
        self.following: str | None = None

    def on_motion(self, motion: Motion) -> None:
        self.counters["motions"] += 1
        if motion.tracking:
            self.counters["tracked"] += 1
        if motion.stream != self.following:
            self.following = motion.stream
            log.info("following stream %s", shown(motion.stream))
        for output in self.outputs:
            output.send(motion)

    def on_control(self, message: dict) -> None:
        if message.get("type") == "ended" and message.get("stream") == self.following:
            log.info("stream %s ended", shown(self.following))
            for output in self.outputs:
                output.stream_ended(self.following)


async def run_outputs(config: OutputConfig, outputs: list[Output]) -> None:
    """Until SIGINT / SIGTERM: subscribe to the gateway and feed ``outputs``; one line at start and stop."""
    stopping = asyncio.Event()
    aio.stop_on_signals(stopping)
    feeder = Feeder(outputs)
    url = viewer_url(config.gateway_url, config.stream, config.viewer_token, config.mirror)
    source = GatewaySource(url, feeder.on_motion, feeder.on_control)
    for output in outputs:
        await output.start()
    names = ", ".join(o.name for o in outputs)
    log.info(
        "%s started: stream %s from %s, mirror %s; %s",
        names,
        config.stream or "(latest)",
        config.gateway_url,
        "on" if config.mirror else "off",
        "; ".join(o.describe() for o in outputs),
    )
    try:
        await source.run(stopping)
    finally:
        for output in outputs:
            await output.stop()
        details = "; ".join(f"{o.name}: {_counts(o.summary())}" for o in outputs)
        log.info("%s stopped: %s, gateway %s; %s", names, _counts(feeder.counters), _counts(source.counters), details)


def _counts(counters: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in counters.items())
