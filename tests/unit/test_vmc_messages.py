"""VMC messages: OSC built byte for byte as python-osc builds them, one bundle per motion,
the bones that move on real MediaPipe results, sent over UDP to an in-process receiver.

tests/system/test_vmc.py runs live2d-pose vmc as a process against real gateways.
"""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from tests.conftest import run
from tests.osc_receiver import OscReceiver
from live2d_pose import wire
from live2d_pose.config import VmcConfig
from live2d_pose.outputs import vmc
from live2d_pose.outputs.base import Feeder
from live2d_pose.rig import Rig, quat
from live2d_pose.rig.motion import Motion, MotionEncoder, MotionState
from live2d_pose.rig.results import parse_result
from live2d_pose.rig.solve import BONES
from live2d_pose.rig.unity import PERFECT_SYNC, UNITY_BONES, VRM0_PRESETS
from live2d_pose.testing import record
from live2d_pose.testing.pipeline import free_port

GESTURE = "web/test/fixtures/gesture.msgpack"
HUMAN_BODY_BONES = set(UNITY_BONES.values())
SPEC_TYPES = {  # address -> python types of its arguments, as python-osc parses i / f / s
    "/VMC/Ext/OK": (int, int, int, int),
    "/VMC/Ext/T": (float,),
    "/VMC/Ext/Root/Pos": (str,) + (float,) * 7,
    "/VMC/Ext/Bone/Pos": (str,) + (float,) * 7,
    "/VMC/Ext/Blend/Val": (str, float),
    "/VMC/Ext/Blend/Apply": (),
}


def check_against_spec(messages) -> None:
    for m in messages:
        assert m.address in SPEC_TYPES, m.address
        assert tuple(type(a) for a in m.args) == SPEC_TYPES[m.address], (m.address, m.args)
        if m.address == "/VMC/Ext/OK":
            assert m.args[:3] == (1, 3, 0) and m.args[3] in (0, 1)
        elif m.address == "/VMC/Ext/Root/Pos":
            assert m.args[0] == "root"
        elif m.address == "/VMC/Ext/Bone/Pos":
            assert m.args[0] in HUMAN_BODY_BONES, m.args[0]
            assert abs(math.sqrt(sum(v * v for v in m.args[4:])) - 1) < 1e-4  # a unit quaternion
        elif m.address == "/VMC/Ext/Blend/Val":
            assert m.args[0] in set(VRM0_PRESETS) | set(PERFECT_SYNC.values()) | {"TongueOut"}
            assert 0.0 <= m.args[1] <= 1.0


def motions(results: list[dict], mirror: bool = True) -> list[Motion]:
    """The motion vmc reads after each result of a recording (at the video's own times): the rig,
    then the messages encoded and read back as the gateway and vmc do."""
    rig, encoder, held, out = Rig(), MotionEncoder(), MotionState(), []
    for r in results:
        if rig.offer(parse_result(wire.pack(r), received_ms=r["ts"]["ingest"])):
            out.append(held.apply(encoder.update(Motion.of(rig, mirror)).delta))
    return out


@pytest.fixture(scope="module")
def gesture():
    return record.load(GESTURE)["results"]


# ------------------------------------------------------------------ encoding


def test_messages_and_bundles_are_byte_for_byte_python_oscs():
    builder = OscMessageBuilder(address="/VMC/Ext/Bone/Pos")
    values = (0.0, 0.95, 0.0, 0.1, -0.2, 0.3, 0.927)
    builder.add_arg("LeftUpperArm", "s")
    for v in values:
        builder.add_arg(v, "f")
    reference = builder.build()
    ours = vmc.encode_message("/VMC/Ext/Bone/Pos", "LeftUpperArm", values)
    assert ours == reference.dgram
    ok = vmc.encode_message("/VMC/Ext/OK", ints=(1, 3, 0, 1))
    bundle = OscBundleBuilder(IMMEDIATELY)
    bundle.add_content(reference)
    bundle.add_content(OscMessageBuilder(address="/VMC/Ext/Blend/Apply").build())
    assert vmc.encode_bundle([ours, vmc.APPLY]) == bundle.build().dgram
    parsed = OscBundle(vmc.encode_bundle([ok, ours]))
    assert [m.address for m in parsed] == ["/VMC/Ext/OK", "/VMC/Ext/Bone/Pos"]
    assert list(parsed)[0].params == [1, 3, 0, 1]


def test_one_bundle_per_motion_in_spec_and_small_enough(gesture):
    largest = 0
    for motion in motions(gesture):
        data = vmc.build_bundle(motion, 1.5, perfect_sync=True)
        largest = max(largest, len(data))
        bundle = OscBundle(data)
        addresses = [m.address for m in bundle]
        assert addresses[:3] == ["/VMC/Ext/OK", "/VMC/Ext/T", "/VMC/Ext/Root/Pos"]
        # the hips are sent with their position even while their rotation is at rest
        sent = set(motion.bones) | ({"hips"} if motion.hips_position is not None else set())
        assert sum(a == "/VMC/Ext/Bone/Pos" for a in addresses) == len(sent)
        if motion.seen["face"]:
            assert addresses[-1] == "/VMC/Ext/Blend/Apply"
            assert sum(a == "/VMC/Ext/Blend/Val" for a in addresses) == 11 + 52
    # many receivers read 8 KiB datagrams: every bone the state has, with Perfect Sync, fits
    motion.bones = dict.fromkeys(BONES, quat.IDENTITY)
    motion.hips_position = (0.1, 0.8, -0.2)
    full = vmc.build_bundle(motion, 1.5, perfect_sync=True)
    assert largest < len(full) < 8192, (largest, len(full))
    assert sum(m.address == "/VMC/Ext/Bone/Pos" for m in OscBundle(full)) == len(BONES)


def test_perfect_sync_names_are_the_52_arkit_shapes_capitalised():
    names = set(PERFECT_SYNC.values()) | {"TongueOut"}
    assert len(names) == 52
    assert {"EyeBlinkLeft", "JawOpen", "MouthSmileRight", "BrowInnerUp", "CheekPuff", "TongueOut"} <= names


# ------------------------------------------------------------------ recorded video -> UDP -> OSC server


def _through_udp(results, receiver_port: int, mirror: bool = True, perfect_sync: bool = False):
    config = VmcConfig(to=f"127.0.0.1:{receiver_port}", mirror=mirror, perfect_sync=perfect_sync)
    output = vmc.VmcOutput(config)

    async def body():
        await output.start()
        feeder = Feeder([output])
        for motion in motions(results, mirror):
            feeder.on_motion(motion)
            await asyncio.sleep(0.002)
        await output.stop()

    run(body())
    return output


def _pointing_up(receiver: OscReceiver, side: str) -> tuple[list[float], list[float]]:
    """Per bundle that has both, how high (Unity y, -1..1) the upper arm and the forearm point:
    the arm's rest direction rotated by the chain Spine · Chest · UpperArm (· LowerArm)."""
    rest = (-1.0, 0.0, 0.0) if side == "Left" else (1.0, 0.0, 0.0)
    upper, fore = [], []
    bundle: dict[str, tuple] = {}
    for m in receiver.received():
        if m.address == "/VMC/Ext/OK":
            bundle = {}
        elif m.address == "/VMC/Ext/Bone/Pos":
            bundle[m.args[0]] = m.args[4:]
        elif m.address == "/VMC/Ext/Blend/Apply" and f"{side}LowerArm" in bundle:
            chain = quat.IDENTITY
            for bone in ("Spine", "Chest", f"{side}UpperArm"):
                chain = quat.multiply(chain, bundle.get(bone, quat.IDENTITY))
            upper.append(quat.rotate(chain, rest)[1])
            fore.append(quat.rotate(quat.multiply(chain, bundle[f"{side}LowerArm"]), rest)[1])
    return upper, fore


def test_raised_arm_in_gesture_video_moves_the_arm_bone(gesture):
    """The woman raises her right hand to her face (highest around frames 40-55). Mirrored, the
    avatar's LEFT arm rises; not mirrored, its right arm. Bones never seen (hips, legs) are not sent."""
    with OscReceiver() as receiver:
        _through_udp(gesture, receiver.port, mirror=True, perfect_sync=True)
        receiver.wait_for("/VMC/Ext/Blend/Apply", count=150)
        check_against_spec(receiver.received())
        bones = {m.args[0] for m in receiver.received("/VMC/Ext/Bone/Pos")}
        upper, fore = _pointing_up(receiver, "Left")
    assert {"LeftUpperArm", "LeftLowerArm", "LeftHand", "Neck", "Head", "Spine", "Chest"} <= bones
    assert {"LeftIndexProximal", "LeftThumbProximal", "LeftLittleDistal"} <= bones
    assert not bones & {"Hips", "LeftUpperLeg", "RightUpperLeg", "LeftFoot"}, bones
    assert max(upper) - min(upper) > 0.5, (min(upper), max(upper))  # the upper arm lifts...
    assert max(fore) > 0.7, max(fore)  # ...and the forearm points up

    with OscReceiver() as receiver:
        _through_udp(gesture, receiver.port, mirror=False)
        receiver.wait_for("/VMC/Ext/Blend/Apply", count=150)
        upper, fore = _pointing_up(receiver, "Right")
        blends = receiver.received("/VMC/Ext/Blend/Val")
    assert max(upper) - min(upper) > 0.5 and max(fore) > 0.7, (upper, fore)
    assert not any(m.args[0] == "EyeBlinkLeft" for m in blends)  # Perfect Sync only when asked


def test_a_walk_sends_the_legs_and_moves_the_hips():
    """The woman walking across sports2d_demo.mp4 (recorded MediaPipe results) through the VMC output to
    an OSC server: the legs' bones and the hips' position arrive, the knees bend as she walks, and the
    hips travel with her. She walks toward the picture's left, her right; mirrored, the avatar moves
    like her reflection: toward its own left, Unity's -X (unmirrored, +X)."""
    from live2d_pose.bench import fidelity_body_inputs as body_inputs

    walk = body_inputs.subjects(body_inputs.load("sports2d"), "sports2d")["sports2d#2"]
    travelled = {}
    for mirror in (True, False):
        with OscReceiver() as receiver:
            _through_udp(walk, receiver.port, mirror=mirror)
            receiver.wait_for("/VMC/Ext/OK", count=len(walk))
            check_against_spec(receiver.received())
            bones = {m.args[0] for m in receiver.received("/VMC/Ext/Bone/Pos")}
            knees = [2 * math.degrees(math.acos(min(1.0, abs(args[6])))) for args in receiver.bones("LeftLowerLeg")]
            hips = [args[:3] for args in receiver.bones("Hips")]
        # the toes stay straight (MediaPipe has no point past their joint): at rest, so not in the motion
        assert {
            "Hips",
            "LeftUpperLeg",
            "LeftLowerLeg",
            "LeftFoot",
            "RightUpperLeg",
            "RightLowerLeg",
            "RightFoot",
        } <= bones, bones
        assert max(knees) - min(knees) > 30, (min(knees), max(knees))
        assert 0.75 < float(np.median([p[1] for p in hips])) < 1.15  # the nominal skeleton's hips, standing
        travelled[mirror] = hips[-1][0] - hips[0][0]
    assert travelled[True] < -3.0 and travelled[False] > 3.0, travelled


def test_without_body_tracking_only_head_face_and_blendshapes(gesture):
    face_only = [{**r, "tracks": ["face"], "poses": None, "hands": None} for r in gesture[:30]]
    with OscReceiver() as receiver:
        _through_udp(face_only, receiver.port)
        receiver.wait_for("/VMC/Ext/Blend/Apply", count=25)
        bones = {m.args[0] for m in receiver.received("/VMC/Ext/Bone/Pos")}
        check_against_spec(receiver.received())
    assert bones == {"Neck", "Head"}


def test_a_receiver_that_is_not_listening_breaks_nothing(gesture, caplog):
    port = free_port()  # nobody listens: the OS answers "port unreachable"
    output = _through_udp(gesture[:60], port)
    assert output.counters["bundles"] == 60, "one bundle per motion message"
    assert output.counters["unreachable"] > 0
    assert "nothing is listening on 127.0.0.1" in caplog.text
