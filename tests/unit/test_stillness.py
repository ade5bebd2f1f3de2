"""A still person gives a still avatar, and a moving one is followed at once (the smoothing stage's
stillness lock, live2d_pose/rig/stillness.py; docs/rig.md "Stillness").

Real MediaPipe results of photos held still (tests/fixtures/), and constructed poses whose answer is
known: a T-pose whose world landmarks jitter in depth as MediaPipe's do while the picture stays put.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re

import numpy as np
import pytest

from live2d_pose import wire
from live2d_pose.bench import fidelity_body as body_bench
from live2d_pose.bench import fidelity_body_inputs as body_inputs
from live2d_pose.rig.results import parse_result
from live2d_pose.rig import Rig, quat
from live2d_pose.rig.filter import STILL_TUNING
from live2d_pose.rig.solve import head_rotation, solve
from live2d_pose.rig.state_filter import StateFilter
from live2d_pose.rig.stillness import PartLock, StillTuning
from live2d_pose.rig.picture import PartPicture

from tests.unit.test_body import T_POSE, make_pose

DT = 1000 / 30
SIZE = (1000, 1000)


def _arm_raised(degrees: float) -> dict:
    """The T-pose with the left arm (shoulder 11, elbow 13, wrist 15) raised in the picture's plane."""
    points = dict(T_POSE)
    a = math.radians(degrees)
    shoulder = points[11]
    for index, reach in ((13, 0.25), (15, 0.48)):
        points[index] = (shoulder[0] + reach * math.cos(a), shoulder[1] + reach * math.sin(a), 0.0)
    return points


def _jittered(points: dict, rng: random.Random, depth: float = 0.01) -> dict:
    """MediaPipe's way: the world landmarks' depth wanders, the picture (make_pose's image) does not."""
    return {i: (x, y, z + rng.gauss(0.0, depth)) for i, (x, y, z) in points.items()}


def _run(poses, tuning=STILL_TUNING):
    """Each pose through SOLVE and the smoothing stage, one result every DT ms: the smoothed states."""
    smoothing = StateFilter(stillness=tuning)
    out = []
    for i, (points, image) in enumerate(poses):
        t = i * DT
        state = solve(pose=make_pose(points, image=image), t=t, times={"pose": t}, image_size=SIZE)
        out.append(smoothing.filter(state))
    return out, smoothing


def _image(points: dict) -> dict:
    return {i: (0.5 + x / 2.4, 0.5 - y / 2.4) for i, (x, y, _) in points.items()}


def _arm_angle(state) -> float:
    """The avatar's left upper arm, degrees above the horizontal in its chest's frame."""
    d = body_bench.avatar_segments(state.bones)[("upper arm", "left")]
    return math.degrees(math.atan2(d[1], d[0]))


def test_a_held_still_arm_stops_shaking_though_its_depth_jitters():
    """A still T-pose whose world landmarks jitter 1 cm in depth (its upper arm then steps 18 degrees
    between readings 0.4 s apart, p95; the sitting woman's, 8 to 13): once it has stood still for the
    window, every bone holds within 0.1 degree."""
    rng = random.Random(3)
    poses = [(_jittered(T_POSE, rng), _image(T_POSE)) for _ in range(90)]
    states, smoothing = _run(poses)
    assert smoothing.locks["leftUpperArm"].holding and smoothing.locks["torso"].holding
    settled = states[45:]
    for bone in ("chest", "leftUpperArm", "leftLowerArm", "rightUpperLeg", "leftLowerLeg"):
        worst = max(
            math.degrees(quat.angle_between(a.bones[bone], b.bones[bone])) for a, b in zip(settled, settled[1:])
        )
        assert worst < 0.1, (bone, worst)


def test_an_arm_that_starts_moving_is_followed_at_once():
    """Still for two seconds, then raised at 180 degrees a second: the lock lets go at once, the
    avatar's arm is never more than about one frame of that movement (6 degrees) behind where the
    filters alone put it, and soon exactly there."""
    still = [(_arm_raised(0.0), None)] * 60
    raising = [(_arm_raised(min(90.0, 6.0 * i)), None) for i in range(1, 25)]
    poses = [(p, _image(p)) for p, _ in still + raising]
    locked, smoothing = _run(poses)
    unlocked, _ = _run(poses, dataclasses.replace(STILL_TUNING, window_ms=1e9))
    assert smoothing.locks["leftUpperArm"].holding is False
    gaps = [abs(_arm_angle(a) - _arm_angle(b)) for a, b in zip(locked[60:], unlocked[60:])]
    assert max(gaps) < 7.0, gaps
    assert max(gaps[10:]) < 0.2, gaps


def test_a_single_spike_does_not_release_a_held_arm():
    """MediaPipe throws a landmark 10 cm off for one result (the sitting woman's knee does): the
    held arm does not move."""
    rng = random.Random(5)
    poses = [(_jittered(T_POSE, rng), _image(T_POSE)) for _ in range(60)]
    spiked = dict(T_POSE)
    spiked[13] = (T_POSE[13][0], T_POSE[13][1] + 0.10, 0.08)
    poses[45] = (spiked, _image(spiked))
    states, smoothing = _run(poses)
    arm = [s.bones["leftUpperArm"] for s in states[40:]]
    assert max(math.degrees(quat.angle_between(a, arm[0])) for a in arm) < 0.1
    assert smoothing.locks["leftUpperArm"].holding


def test_a_step_at_the_same_time_replaces_the_last():
    """As every stage of the smoothing: a second step at the same time replaces the first."""
    still = PartPicture(500.0, ((120.0, 0.0), (110.0, 0.0)))
    moved = PartPicture(500.0, ((120.0, 60.0), (110.0, 60.0)))
    q = quat.axis_angle((0.0, 0.0, 1.0), 0.3)
    once, twice = PartLock(STILL_TUNING), PartLock(STILL_TUNING)
    for i in range(40):
        for lock in (once, twice):
            lock.step(i * DT, 1.0, still, {"leftUpperArm": q})
            lock.output("leftUpperArm", q)
    assert once.holding
    twice.step(40 * DT, 1.0, moved, {"leftUpperArm": q})  # replaced by the next step
    twice.output("leftUpperArm", q)
    for lock in (once, twice):
        lock.step(40 * DT, 1.0, still, {"leftUpperArm": q})
    assert twice.now == once.now


# ------------------------------------------------------------------ real photos held still


def _world(bones: dict) -> dict:
    return body_bench.world_rotations(bones)


@pytest.mark.parametrize("name", ["still_astronaut", "still_sitting"])
def test_a_photo_held_still_gives_a_still_avatar(name):
    """The astronaut (arms out of the frame) and the sitting woman (limbs in view), 15 fps with a
    camera's noise: after the first second, each bone's rotation between readings 0.4 s apart, the
    hands and feet too, stays within 1 degree (p95) and 3 degrees (max), where MediaPipe's own limbs
    move up to 24 (her right foot, whose heel and toe MediaPipe places least surely, is held in time)."""
    messages = body_inputs.load(name)["results"]
    poses = body_bench.ours(messages)
    steps = body_bench.stillness(messages, poses, body_bench.READ_BONES)
    for bone, values in steps.items():
        assert np.percentile(values, 95) <= 1.0 and max(values) <= 3.0, (bone, max(values))


def test_the_feet_have_stillness_settings_of_their_own():
    """tuning.json's stillness "parts": a foot's picture may wander further and still be still; the
    other parts, and the band that lets a held foot go again, keep the common settings."""
    for side in ("left", "right"):
        foot = STILL_TUNING.for_part(f"{side}Foot")
        assert foot.still_m > STILL_TUNING.still_m
        assert dataclasses.replace(foot, still_m=STILL_TUNING.still_m) == STILL_TUNING
    for part in ("torso", "hips", "leftUpperArm", "rightLowerLeg", "leftHand"):
        assert STILL_TUNING.for_part(part) is STILL_TUNING


def test_a_part_setting_with_a_name_it_does_not_know_is_an_error():
    """A typo in tuning.json's stillness "parts" fails at load instead of leaving the part untuned."""
    with pytest.raises(ValueError, match="stilM"):
        StillTuning.from_json({"parts": [{"match": "Foot$", "stilM": 0.03}]})
    with pytest.raises(re.error):
        StillTuning.from_json({"parts": [{"match": "Foot(", "stillM": 0.03}]})


def test_the_head_keeps_the_facial_matrix_steadiness_when_the_chest_jitters():
    """The astronaut's chest wobbles 6 degrees (its shoulders' depth); the head is solved against it.
    Re-expressed against the avatar's held chest, the avatar's head turns as the facial matrix does:
    within half a degree of it."""
    messages = body_inputs.load("still_astronaut")["results"]
    rig = Rig()
    for m in messages:
        rig.offer(parse_result(wire.pack(m), received_ms=m["ts"]["ingest"]))
    face = wire.Face.from_wire(messages[-1]["faces"][0])
    head = _world(rig.smoothed.bones)["head"]
    assert math.degrees(quat.angle_between(head, head_rotation(face.matrix))) < 0.5
