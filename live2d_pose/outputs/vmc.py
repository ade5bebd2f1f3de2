"""`live2d-pose vmc`: the VMC protocol, as a Performer, to VSeeFace, VNyan, Warudo, VMagicMirror.

The VMC protocol (sh-akira's VirtualMotionCaptureProtocol) is OSC over UDP.
A Performer sends a Marionette (the app that draws the avatar, listening on
39539 by default) the avatar's state. We send one OSC bundle per motion
message from the gateway (each result, and the easing to rest after the
results stop):

    /VMC/Ext/OK   (i)loaded=1 (i)calibration state=3 (i)calibration mode=0 (i)tracking 1|0
    /VMC/Ext/T    (f)seconds since this sender started
    /VMC/Ext/Root/Pos (s)"root" (f)p.x p.y p.z (f)q.x q.y q.z q.w
    /VMC/Ext/Bone/Pos (s)HumanBodyBones name (f)p.x p.y p.z (f)q.x q.y q.z q.w   per bone the motion holds
    /VMC/Ext/Blend/Val (s)name (f)value   per VRM 0.x preset (+ the 52 ARKit names with --perfect-sync)
    /VMC/Ext/Blend/Apply

Rotations are Unity local rotations (left-handed, Y up) of a normalized
humanoid, the gateway's motion through rig/unity.py: the upper body, the legs
and feet, the hands. Positions are a nominal 1.6 m skeleton's rest offsets
(the spec's Bone/Pos carries one; VSeeFace, VNyan and Warudo apply rotations
only), except the Hips': where the rig puts the hips in the room (docs/rig.md
"Hips position"), scaled from the rig's rest hips height to that skeleton's,
so the avatar steps, crouches and jumps. A bone is sent from when the motion
first holds it (its part was followed) and from then on, easing to its rest
when the part is lost: a receiver keeps the last value of a bone it is not
sent. The OSC encoding is python-osc's (see encode_message).

UDP needs no receiver: with nothing listening, the OS reports the port
unreachable; we log it once, count it, and keep sending.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections import deque
from pathlib import Path

import numpy as np
from pythonosc.osc_bundle_builder import IMMEDIATELY
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.parsing import osc_types

from live2d_pose import wire
from live2d_pose.config import VmcConfig
from live2d_pose.outputs.base import Output
from live2d_pose.rig import unity
from live2d_pose.rig.ground import REST_HIPS_HEIGHT
from live2d_pose.rig.motion import Motion

log = logging.getLogger("live2d_pose.outputs.vmc")

# Calibration state "Calibrated" and mode "Normal" (VMC spec, /VMC/Ext/OK v2.5+).
CALIBRATED, NORMAL_MODE = 3, 0
LATENCY_SAMPLES = 20000
REACHABLE_AGAIN_AFTER = 3.0  # seconds without "port unreachable" before we say the receiver is back

# Rest offsets (metres, Unity space, avatar facing +Z, its right at +X) of a nominal humanoid.
_ARM = {"UpperArm": 0.09, "LowerArm": 0.25, "Hand": 0.23}
_FINGERS = {  # proximal offset from the hand (along, forward), then segment lengths
    "Thumb": ((0.02, 0.02), 0.03, 0.025),
    "Index": ((0.08, 0.02), 0.04, 0.025),
    "Middle": ((0.08, 0.0), 0.045, 0.03),
    "Ring": ((0.075, -0.015), 0.04, 0.025),
    "Little": ((0.065, -0.03), 0.03, 0.02),
}


_LEG = {
    "UpperLeg": (0.09, -0.05, 0.0),
    "LowerLeg": (0.0, -0.42, 0.0),
    "Foot": (0.0, -0.42, 0.0),
    "Toes": (0.0, -0.06, 0.12),
}


def _rest_offsets() -> dict[str, tuple[float, float, float]]:
    offsets = {
        "Hips": (0.0, 0.95, 0.0),
        "Spine": (0.0, 0.06, 0.0),
        "Chest": (0.0, 0.12, 0.0),
        "Neck": (0.0, 0.22, 0.0),
        "Head": (0.0, 0.09, 0.0),
    }
    for side, sign in (("Left", -1.0), ("Right", 1.0)):
        for bone, length in _ARM.items():
            offsets[f"{side}{bone}"] = (sign * length, 0.0, 0.0)
        for bone, (x, y, z) in _LEG.items():
            offsets[f"{side}{bone}"] = (sign * x, y, z)
        for finger, ((along, forward), middle, distal) in _FINGERS.items():
            offsets[f"{side}{finger}Proximal"] = (sign * along, 0.0, forward)
            offsets[f"{side}{finger}Intermediate"] = (sign * middle, 0.0, 0.0)
            offsets[f"{side}{finger}Distal"] = (sign * distal, 0.0, 0.0)
    return offsets


REST_OFFSETS = _rest_offsets()
HIPS_SCALE = REST_OFFSETS["Hips"][1] / REST_HIPS_HEIGHT  # the rig's rest hips height -> the nominal skeleton's


def parse_host_port(text: str, flag: str = "--to") -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SystemExit(f"{flag} must be HOST:PORT (e.g. 127.0.0.1:39539), got {text!r}")
    return host.strip("[]"), int(port)


# python-osc encodes everything sent here; its builders, though, parse each message and
# bundle back after encoding it (~20 us a message, about 1 ms a result here), which alone
# would spend the 1 ms budget. So the parts that repeat every result (address, type tags, the
# bone or expression name) are encoded once by OscMessageBuilder and cached, the numbers
# by python-osc's own osc_types writers, and the bundle is framed with its writers too.
# tests/unit/test_vmc_messages.py checks the result byte for byte against python-osc's builders.
FLOAT, INT, STRING = OscMessageBuilder.ARG_TYPE_FLOAT, OscMessageBuilder.ARG_TYPE_INT, OscMessageBuilder.ARG_TYPE_STRING
BUNDLE_PREFIX = b"#bundle\x00"


@functools.lru_cache(maxsize=1024)
def _head(address: str, name: str | None, floats: int) -> bytes:
    """A message's bytes up to its float arguments, as OscMessageBuilder writes them."""
    builder = OscMessageBuilder(address=address)
    if name is not None:
        builder.add_arg(name, STRING)
    for _ in range(floats):
        builder.add_arg(0.0, FLOAT)
    dgram = builder.build().dgram
    return dgram[: len(dgram) - 4 * floats]


def encode_message(
    address: str, name: str | None = None, floats: tuple[float, ...] = (), ints: tuple[int, ...] = ()
) -> bytes:
    """One OSC message: address, then an optional string, then floats (or ints)."""
    if ints:
        builder = OscMessageBuilder(address=address)
        for value in ints:
            builder.add_arg(int(value), INT)
        return builder.build().dgram
    return _head(address, name, len(floats)) + b"".join(osc_types.write_float(float(v)) for v in floats)


def encode_bundle(messages: list[bytes]) -> bytes:
    """An OSC bundle to run immediately, framed as OscBundleBuilder frames it."""
    return (
        BUNDLE_PREFIX + osc_types.write_date(IMMEDIATELY) + b"".join(osc_types.write_int(len(m)) + m for m in messages)
    )


@functools.lru_cache(maxsize=2)
def _ok(tracking: bool) -> bytes:
    return encode_message("/VMC/Ext/OK", ints=(1, CALIBRATED, NORMAL_MODE, int(tracking)))


ROOT = encode_message("/VMC/Ext/Root/Pos", "root", (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0))
APPLY = OscMessageBuilder(address="/VMC/Ext/Blend/Apply").build().dgram


def build_bundle(motion: Motion | None, seconds: float, perfect_sync: bool = False) -> bytes:
    """The motion as it is now as one VMC bundle (see the module doc); None: a "nobody tracked"
    status bundle."""
    tracking = motion is not None and motion.tracking
    messages = [_ok(tracking), encode_message("/VMC/Ext/T", floats=(seconds,)), ROOT]
    if motion is not None:
        offsets, bones = REST_OFFSETS, unity.unity_bones(motion)
        position = unity.unity_position(motion)
        if position is not None:  # the hips stand where the rig placed them, even at their rest rotation
            offsets = {**REST_OFFSETS, "Hips": tuple(v * HIPS_SCALE for v in position)}
            bones.setdefault("Hips", (0.0, 0.0, 0.0, 1.0))
        # every bone the motion holds, smoothed (a lost one easing to rest); one never seen is not sent
        for name, rotation in bones.items():
            messages.append(
                encode_message("/VMC/Ext/Bone/Pos", name, offsets.get(name, (0.0, 0.0, 0.0)) + tuple(rotation))
            )
        blends = unity.vrm0_blends(motion, perfect_sync)
        for name, value in blends.items():
            messages.append(encode_message("/VMC/Ext/Blend/Val", name, (value,)))
        if blends:
            messages.append(APPLY)
    return encode_bundle(messages)


class _Udp(asyncio.DatagramProtocol):
    """Counts what the OS tells us about the receiver; never raises into the loop."""

    def __init__(self, owner: VmcOutput):
        self.owner = owner
        self.paused = False

    def error_received(self, exc: Exception) -> None:
        self.owner.on_send_error(exc)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False


class VmcOutput(Output):
    name = "vmc"

    def __init__(self, config: VmcConfig):
        self.config = config
        self.host, self.port = parse_host_port(config.to)
        self.transport: asyncio.DatagramTransport | None = None
        self.protocol: _Udp | None = None
        self.started = time.monotonic()
        self.counters = {"bundles": 0, "tracked": 0, "bytes": 0, "dropped": 0, "unreachable": 0}
        self.latency_ms: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._unreachable_reported = False
        self._last_error = 0.0
        self._last_result: tuple | None = None

    def describe(self) -> str:
        return f"VMC to {self.host}:{self.port} (perfect sync {'on' if self.config.perfect_sync else 'off'})"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self.transport, self.protocol = await loop.create_datagram_endpoint(
                lambda: _Udp(self), remote_addr=(self.host, self.port)
            )
        except OSError as exc:
            raise SystemExit(f"cannot send VMC to {self.host}:{self.port}: {exc}") from None

    def send(self, motion: Motion) -> None:
        # the latency of a new result (the easing steps after results stop carry the last one's stamp)
        fresh = (motion.stream, motion.session, motion.seq) != self._last_result
        self._last_result = (motion.stream, motion.session, motion.seq)
        self._send(motion, motion.ts.get("gateway") if fresh else None)

    def stream_ended(self, stream: str) -> None:
        self._send(None, None)  # tracking status 0: the receiver may show its "tracking lost" state

    def _send(self, motion: Motion | None, gateway_ms: float | None) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.protocol.paused:  # the socket's buffer is full: newest wins, this one is dropped
            self.counters["dropped"] += 1
            return
        data = build_bundle(motion, time.monotonic() - self.started, self.config.perfect_sync)
        self.transport.sendto(data)
        if gateway_ms is not None:
            self.latency_ms.append(wire.now_ms() - gateway_ms)
        self.counters["bundles"] += 1
        self.counters["bytes"] += len(data)
        if motion is not None and motion.tracking:
            self.counters["tracked"] += 1
        if self._unreachable_reported and time.monotonic() - self._last_error > REACHABLE_AGAIN_AFTER:
            self._unreachable_reported = False
            log.info("the VMC receiver at %s:%d no longer refuses our packets", self.host, self.port)

    def on_send_error(self, exc: Exception) -> None:
        self.counters["unreachable"] += 1
        self._last_error = time.monotonic()
        if not self._unreachable_reported:
            self._unreachable_reported = True
            log.warning(
                "nothing is listening on %s:%d (%s); still sending. Is the VMC receiver "
                "enabled in VSeeFace / VNyan / Warudo, on this port?",
                self.host,
                self.port,
                exc.__class__.__name__,
            )

    async def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self.config.stats_file:
            await asyncio.to_thread(Path(self.config.stats_file).write_text, json.dumps(self.stats()))

    def stats(self) -> dict:
        samples = np.asarray(self.latency_ms, dtype=float)
        percentiles = (
            {f"p{p}": round(float(np.percentile(samples, p)), 3) for p in (50, 95, 99)} if samples.size else {}
        )
        return {**self.counters, "latency_ms": percentiles, "latency_samples": int(samples.size)}

    def summary(self) -> dict:
        stats = self.stats()
        out = dict(self.counters)
        if stats["latency_ms"]:
            out["gateway_to_send_p50_ms"] = stats["latency_ms"]["p50"]
        return out
