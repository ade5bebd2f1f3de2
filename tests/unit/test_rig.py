"""The rig's conventions, on real recorded results and on small constructed cases.

These pin what every reader of the motion relies on: which side is which
after mirroring, Unity's space, that unseen bones are absent, the per-tracker
store and its timing, and the Live2D head angles' signs.
test_rig_contract.py holds SOLVE and the smoothing to docs/rig.md on the
recordings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from live2d_pose import wire
from live2d_pose.rig import Rig, TRACKER_STALE_MS, quat
from live2d_pose.rig.live2d import NEUTRAL, eye_stabilizer_yaw, face_params, live2d_params, mirror_live2d
from live2d_pose.rig.motion import Motion
from live2d_pose.rig.results import parse_result
from live2d_pose.rig.solve import BONES, BodyState, mirror_state, solve
from live2d_pose.rig.unity import UNITY_BONES, unity_bones, vrm0_blends
from live2d_pose.testing import record

GESTURE = "web/test/fixtures/gesture.msgpack"


@pytest.fixture(scope="module")
def results():
    return record.load(GESTURE)["results"]


def tracking(result, **changes):
    message = {**result, **changes}
    return parse_result(wire.pack(message), received_ms=message["ts"]["ingest"])


def test_quaternion_helpers():
    assert quat.frame((1, 0, 0), (0, 1, 0)) == pytest.approx(quat.IDENTITY)
    q = quat.axis_angle((0.0, 1.0, 0.0), math.radians(30))
    assert quat.to_yaw_pitch_roll(q) == pytest.approx((30.0, 0.0, 0.0))
    assert quat.rotate(q, (0.0, 0.0, 1.0))[0] == pytest.approx(0.5)  # +yaw turns +Z toward +X
    assert quat.half(quat.multiply(q, q)) == pytest.approx(q)
    assert quat.flip_x(quat.flip_x(q)) == q
    assert quat.arc((1.0, 0.0, 0.0), (-1.0, 0.0, 0.0))[3] == pytest.approx(0.0)


def test_unity_bone_names_are_human_body_bones():
    assert UNITY_BONES["leftUpperArm"] == "LeftUpperArm"
    assert UNITY_BONES["rightThumbMetacarpal"] == "RightThumbProximal"  # VRM 1.0 -> Unity's thumb chain
    assert UNITY_BONES["rightThumbProximal"] == "RightThumbIntermediate"
    assert UNITY_BONES["leftThumbDistal"] == "LeftThumbDistal"
    assert UNITY_BONES["leftLittleIntermediate"] == "LeftLittleIntermediate"
    assert len(set(UNITY_BONES.values())) == len(BONES)


def motion_after(messages, mirror: bool = True, smoothing: bool = True) -> Motion:
    rig = Rig(smoothing=smoothing)
    for message in messages:
        rig.offer(tracking(message))
    return Motion.of(rig, mirror)


def test_face_only_gives_neck_head_and_expressions_only(results):
    state = solve(face=tracking(results[45]).faces[0])
    assert set(state.bones) == {"neck", "head"}
    assert state.seen == {"face": True, "pose": False, "leftHand": False, "rightHand": False}
    face_only = {**results[45], "tracks": ["face"], "poses": None, "hands": None}
    motion = motion_after([face_only])
    assert set(motion.bones) == {"neck", "head"}, "a bone never seen is not in the motion: at its rest"
    assert set(unity_bones(motion)) == {"Neck", "Head"}
    assert set(vrm0_blends(motion)) == {"Blink_L", "Blink_R", "A", "I", "U", "E", "O", "Joy", "Angry", "Sorrow", "Fun"}
    nobody = Motion.of(Rig(), True)
    assert unity_bones(nobody) == {} and vrm0_blends(nobody) == {}


def test_unseen_hands_and_hips_are_absent(results):
    for result in results:
        state = solve(*(lambda t: (t.faces[0], t.poses[0], t.hands))(tracking(result)))
        assert "hips" not in state.bones  # she sits: the hips are out of the picture
        for side in ("left", "right"):
            fingers = {b for b in state.bones if b.startswith(side) and "Index" in b}
            assert bool(fingers) == state.seen[f"{side}Hand"]


def test_mirror_swaps_sides_and_reflects_rotations(results):
    t = tracking(results[50])
    state = solve(t.faces[0], t.poses[0], t.hands)
    mirrored = mirror_state(state)
    assert mirrored.bones["leftUpperArm"] == quat.flip_x(state.bones["rightUpperArm"])
    assert mirrored.expressions["blinkLeft"] == state.expressions["blinkRight"]
    assert mirrored.blendshapes["eyeBlinkLeft"] == state.blendshapes["eyeBlinkRight"]
    assert mirrored.gaze["yaw"] == -state.gaze["yaw"]
    assert mirror_state(mirrored).to_dict() == state.to_dict()


def test_unity_arm_directions_follow_the_mirror(results):
    """The subject's right arm (pose 12/14) is raised at frame 50. Mirrored, the avatar's LEFT
    arm moves (Unity rest -X); unmirrored its RIGHT (rest +X), with the same elbow height."""
    t = tracking(results[50])
    state = solve(t.faces[0], t.poses[0], t.hands)
    elbow_height_subject = state.bones["rightUpperArm"]
    mirrored = unity_bones(motion_after([results[50]], mirror=True, smoothing=False))
    plain = unity_bones(motion_after([results[50]], mirror=False, smoothing=False))
    assert "LeftLowerArm" in mirrored and "RightLowerArm" in plain
    up_mirrored = quat.rotate(mirrored["LeftUpperArm"], (-1.0, 0.0, 0.0))
    up_plain = quat.rotate(plain["RightUpperArm"], (1.0, 0.0, 0.0))
    up_state = quat.rotate(elbow_height_subject, (-1.0, 0.0, 0.0))
    assert up_mirrored[1] == pytest.approx(up_state[1]) and up_plain[1] == pytest.approx(up_state[1])
    # mirrored, the numbers carry over (two YZ reflections: mirror, then into Unity); unmirrored x flips
    assert up_mirrored[0] == pytest.approx(up_state[0]) and up_plain[0] == pytest.approx(-up_state[0])


def _face_with_yaw(face: wire.Face, degrees: float) -> wire.Face:
    matrix = np.eye(4, dtype=np.float32)
    a = math.radians(degrees)
    matrix[:3, :3] = [[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]]
    matrix[:3, 3] = (0, 0, -40)
    return wire.Face(face.landmarks, face.blendshapes, matrix.reshape(16))


def test_live2d_head_follows_the_matrix_with_the_viewers_signs(results):
    """A face turned to the subject's left (toward the image's right, +yaw) shows, mirrored, to the
    screen's left: ParamAngleX < 0 (rig.js: + turns to the screen's right)."""
    face = tracking(results[0]).faces[0]
    state = solve(face=_face_with_yaw(face, 20))
    turned = live2d_params(dict(NEUTRAL), state, mirror=True)
    assert turned["ParamAngleX"] == pytest.approx(-20, abs=1e-4)
    assert turned["ParamBodyAngleX"] == pytest.approx(-6, abs=1e-4)  # no pose: 0.3 of the head
    assert live2d_params(dict(NEUTRAL), state, mirror=False)["ParamAngleX"] == pytest.approx(20, abs=1e-4)
    rest = live2d_params(dict(NEUTRAL), BodyState())  # nothing seen: the rest pose
    assert rest == pytest.approx(NEUTRAL)
    params = face_params(state.blendshapes, eye_stabilizer_yaw(state))
    assert params["ParamEyeLOpen"] > 0.9 and -1 <= params["ParamMouthForm"] <= 1
    assert face_params(None) == NEUTRAL, "a face without blendshapes: the neutral face"


def test_the_mirrored_live2d_parameters_are_those_of_the_mirrored_state(results):
    """The rig computes the unmirrored avatar's parameters once; mirror_live2d gives the mirrored
    avatar's, exactly as solving the mirror image would (swapped sides, x and z angles negated)."""
    for result in results[::10]:
        t = tracking(result)
        state = solve(t.faces[0], t.poses[0], t.hands)
        yaw = eye_stabilizer_yaw(state)
        plain = live2d_params(face_params(state.blendshapes, yaw, mirror=False), state, mirror=False)
        mirrored = live2d_params(face_params(state.blendshapes, yaw, mirror=True), state, mirror=True)
        assert mirror_live2d(plain) == pytest.approx(mirrored, abs=1e-9)
        assert mirror_live2d(mirror_live2d(plain)) == plain


def test_trackers_in_separate_messages_are_combined_and_old_ones_dropped(results):
    """One frame's face and pose may come in two messages; the rig solves from the newest of each."""
    rig = Rig()
    base = results[50]
    face_msg = {**base, "tracks": ["face"], "poses": None, "hands": None}
    pose_msg = {**base, "tracks": ["pose", "hands"], "faces": None}
    assert rig.offer(tracking(face_msg)) == ["face"]
    assert rig.offer(tracking(pose_msg)) == ["pose", "hands"]
    assert {"neck", "head", "rightUpperArm"} <= set(rig.state.bones)
    smoothed, steps = rig.smoothed, rig.steps
    stale = {**results[49], "ts": {"ingest": base["ts"]["ingest"] + 1}, "tracks": ["pose"], "faces": None}
    assert rig.offer(tracking(stale)) == []
    assert rig.tracks.stale == 1
    # nothing newer: nothing steps, and the rig still says what the avatar shows
    assert rig.smoothed is smoothed and rig.steps == steps and rig.face_position_cm is not None
    later = {
        **results[60],
        "ts": {"ingest": base["ts"]["ingest"] + TRACKER_STALE_MS + 50},
        "tracks": ["face"],
        "poses": None,
        "hands": None,
    }
    rig.offer(tracking(later))
    assert set(rig.state.bones) == {"neck", "head"}  # the pose has gone stale
    # a camera that connects again starts its seq from 1 with a newer session: it is followed at once
    again = {**results[61], "seq": 1, "session": 5, "ts": {"ingest": later["ts"]["ingest"] + 40}}
    assert rig.offer(tracking(again)) == ["face", "pose", "hands"]


def test_non_finite_numbers_are_refused_at_the_door(results):
    face = dict(results[10]["faces"][0])
    matrix = np.frombuffer(face["matrix"], "<f4").copy()
    matrix[0] = np.nan
    face["matrix"] = matrix.tobytes()
    with pytest.raises(wire.WireError, match="non-finite"):
        tracking(results[10], faces=[face])


# ---------------------------------------------------------------- per-tracker timing

POSE_BONES = ("hips", "spine", "chest", "leftUpperArm", "leftLowerArm", "rightUpperArm", "rightLowerArm")
HAND_BONES = tuple(
    b for b in BONES if b.endswith("Hand") or any(f in b for f in ("Thumb", "Index", "Middle", "Ring", "Little"))
)
FACE_SCALARS = ("expressions", "blendshapes", "gaze")
VARIANTS = {  # order of a frame's messages, and the tracker a frame late (web/test/body.test.js's)
    "face-first": (("face", "pose", "hands"), None),
    "hands-first": (("hands", "pose", "face"), None),
    "pose-first": (("pose", "face", "hands"), None),
    "pose-a-frame-late": (("face", "pose", "hands"), "pose"),
    "hands-a-frame-late": (("face", "pose", "hands"), "hands"),
    "face-a-frame-late": (("face", "pose", "hands"), "face"),
}


@dataclass
class Step:
    state: BodyState
    smoothed: BodyState
    face_params: dict


def _run(rig: Rig, messages: list[dict]) -> list[Step]:
    """Each message through the rig as the gateway gives it (arriving as record.arrivals says)."""
    steps = []
    for m, at in zip(messages, record.arrivals(messages)):
        rig.offer(parse_result(wire.pack(m), received_ms=at))
        steps.append(Step(rig.state, rig.smoothed, dict(rig.face_params)))
    return steps


_REFERENCES: dict[tuple[int, str | None], tuple[object, list[Step]]] = {}  # shared by the variants (read only)


def _reference(results: list[dict], late: str | None) -> list[Step]:
    """The rig's steps over the recording's one message per frame (without the late tracker's first)."""
    key = (id(results), late)
    if key not in _REFERENCES:  # the cache holds results too, so its id is not reused meanwhile
        _REFERENCES[key] = (results, _run(Rig(), _without_first(results, late) if late else results))
    return _REFERENCES[key][1]


def _without_first(results: list[dict], tracker: str) -> list[dict]:
    first = dict(results[0])
    first["tracks"] = [t for t in first["tracks"] if t != tracker]
    first.pop(record.TRACKER_KEYS[tracker])
    return [first] + results[1:]


def _same_bones(got, want, names, where):
    for name in names:
        assert got.bones[name] == pytest.approx(want.bones[name], abs=1e-12), (where, name)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_per_tracker_messages_smooth_like_one_merged_message(results, variant):
    """The live pipeline sends one message per tracker per frame, all stamped with the frame's
    ts.ingest, a slow tracker's possibly after the next frame's. Each channel is smoothed at the
    time of the result it comes from, the head and hands against their own frame's pose, so each
    tracker's channels come out exactly as from the recording's one message per frame: a pose
    arriving after its frame's face is not dropped, nothing is sampled at another tracker's time.
    (A tracker that starts a frame behind the others loses its first result: the rig had already
    stepped its channels, toward rest, past that time.)"""
    order, late = VARIANTS[variant]
    reference = _reference(results, late)
    frame_of = {m["seq"]: i for i, m in enumerate(results)}
    messages = record.per_tracker(results, order, late)
    frames = _run(Rig(), messages)
    arrived: set[tuple[str, int]] = set()
    latest: dict[str, int] = {}
    for message, frame in zip(messages, frames):
        tracker = message["tracks"][0]
        arrived.add((tracker, message["seq"]))
        latest[tracker] = message["seq"]
        got = frame.smoothed
        where = (variant, message["seq"], tracker)

        def want(of: str):
            return reference[frame_of[latest[of]]]

        def posed(seq: int) -> bool:  # that frame's pose is in (with the pose late, it came after)
            return late != "pose" and ("pose", seq) in arrived

        if "pose" in latest:
            _same_bones(got, want("pose").smoothed, [b for b in POSE_BONES if b in frame.state.bones], where)
        if "face" in latest:
            for group in FACE_SCALARS:
                assert getattr(got, group) == pytest.approx(getattr(want("face").smoothed, group), abs=1e-12), where
            assert frame.face_params == pytest.approx(want("face").face_params, abs=1e-12), where
            if posed(latest["face"]):
                _same_bones(got, want("face").smoothed, ("neck", "head"), where)
        if "hands" in latest and posed(latest["hands"]):
            _same_bones(got, want("hands").smoothed, HAND_BONES, where)


def test_results_from_a_clock_behind_after_a_pause_are_followed_at_once(results):
    """The gateway and ingest may run on different hosts: the rig maps ts.ingest onto its own
    clock, so when the results come back after a pause stamped by a clock 5 s behind (ingest
    restarted, or on another host), they move the avatar at once instead of being ignored until
    that clock catches up."""
    rig = Rig()
    raised = record.per_tracker(results[40:60])
    for message, at in zip(raised, record.arrivals(raised)):
        rig.offer(parse_result(wire.pack(message), received_ms=at + 100.0))
    up = rig.smoothed.bones["rightUpperArm"]
    resume_at = at + 100.0 + 1000.0  # a second later on the rig's clock
    down = [
        {**m, "seq": m["seq"] + 1000, "ts": {"ingest": m["ts"]["ingest"] + 40 * 20 - 5000.0}}
        for m in record.per_tracker(results[0:10])
    ]
    moved = []
    for message, at in zip(down, record.arrivals(down)):
        rig.offer(parse_result(wire.pack(message), received_ms=resume_at + at - down[0]["ts"]["ingest"]))
        moved.append(math.degrees(quat.angle_between(rig.smoothed.bones["rightUpperArm"], up)))
    assert moved[2] > 5 and moved[-1] > 30, moved  # the arm comes down with the first results
