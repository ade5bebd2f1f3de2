"""The whole body: legs within a human's joint limits, parts that rest calmly when the camera cannot
see them, the arm held out toward the camera, and where the hips stand.

Real MediaPipe results (tests/fixtures/, web/test/fixtures/gesture.msgpack) and small constructed
poses whose answer is known. docs/rig.md is the contract.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from live2d_pose import wire
from live2d_pose.bench import fidelity_body as body_bench
from live2d_pose.bench import fidelity_body_inputs as body_inputs
from live2d_pose.rig.results import parse_result
from live2d_pose.rig import Rig, quat
from live2d_pose.rig.ground import FIND_MS, REST_HIPS_HEIGHT, Grounding, Root
from live2d_pose.rig.live2d import NEUTRAL, live2d_params, torso_in_room
from live2d_pose.rig.limbs import ANKLE_PITCH_LIMITS, KNEE_LIMITS, NOMINAL, restore_depth
from live2d_pose.rig.presence import BLEND_MS, OFF_MS, ON_MS, Presence
from live2d_pose.rig.solve import PARTS, BodyState, distinct_hands, mirror_state, rest_rotation, solve

DEG = math.pi / 180

# A person standing in a T-pose, facing the camera: points in the rig's frame (metres, +Y up, the
# subject's left at +X, toward the camera +Z), the hips' centre at the origin as in MediaPipe's world.
T_POSE = {
    11: (0.17, 0.50, 0.0), 12: (-0.17, 0.50, 0.0), 13: (0.42, 0.50, 0.0), 14: (-0.42, 0.50, 0.0),
    15: (0.65, 0.50, 0.0), 16: (-0.65, 0.50, 0.0), 23: (0.10, 0.0, 0.0), 24: (-0.10, 0.0, 0.0),
    25: (0.10, -0.40, 0.0), 26: (-0.10, -0.40, 0.0), 27: (0.10, -0.78, 0.0), 28: (-0.10, -0.78, 0.0),
    29: (0.10, -0.83, -0.05), 30: (-0.10, -0.83, -0.05), 31: (0.10, -0.86, 0.15), 32: (-0.10, -0.86, 0.15),
}


def make_pose(points: dict, visibility: float = 0.95, image: dict | None = None) -> wire.Pose:
    """A wire.Pose from rig-frame points: MediaPipe's world is (x, -y, -z); the picture shows the
    person 3 m away, 1.2 m tall in a square image, unless ``image`` gives (x, y) of some landmarks."""
    world = np.zeros((33, 3), np.float32)
    landmarks = np.zeros((33, 5), np.float32)
    for i in range(33):
        x, y, z = points.get(i, (0.0, 0.6, 0.0))
        world[i] = (x, -y, -z)
        ix, iy = (image or {}).get(i, (0.5 + x / 2.4, 0.5 - y / 2.4))
        landmarks[i] = (ix, iy, -z, visibility, 1.0)
    return wire.Pose(landmarks, world)


def leg_with_knee(side_points: dict, angle: float, forward: bool = False) -> dict:
    """The T-pose with the left shin swung back (a bent knee) by ``angle``, or forward."""
    points = dict(side_points)
    s = -1.0 if forward else 1.0
    shin = (0.0, -0.38 * math.cos(angle), -0.38 * math.sin(angle) * s)
    points[27] = tuple(k + d for k, d in zip(points[25], shin))
    points[29] = (points[27][0], points[27][1] - 0.05, points[27][2] - 0.05)
    points[31] = (points[27][0], points[27][1] - 0.08, points[27][2] + 0.15)
    return points


def knee_of(state, side: str = "left") -> float:
    q = state.bones[f"{side}LowerLeg"]
    angle = 2 * math.atan2(math.hypot(*q[:3]), q[3])
    return math.copysign(angle, q[0])


# ------------------------------------------------------------------ joint limits


@pytest.mark.parametrize("degrees", [0, 45, 90, 140])
def test_a_knee_bends_backward_like_a_hinge(degrees):
    state = solve(pose=make_pose(leg_with_knee(T_POSE, degrees * DEG)))
    assert knee_of(state) == pytest.approx(degrees * DEG, abs=1.5 * DEG)
    q = state.bones["leftLowerLeg"]
    assert abs(q[1]) < 1e-9 and abs(q[2]) < 1e-9  # about the knee's axis only


@pytest.mark.parametrize("degrees", [20, 40, 60])
def test_a_knee_never_bends_forward(degrees):
    """A shin MediaPipe puts in front of the thigh: the hips turn the thigh at most 45 degrees to face
    it, so the knee cannot bend that way, and it stays straight."""
    forward = solve(pose=make_pose(leg_with_knee(T_POSE, degrees * DEG, forward=True)))
    assert knee_of(forward) == pytest.approx(KNEE_LIMITS[0], abs=1e-9)


def test_a_knee_stops_at_its_limit():
    folded = solve(pose=make_pose(leg_with_knee(T_POSE, 175 * DEG)))
    assert knee_of(folded) == pytest.approx(KNEE_LIMITS[1], abs=1e-9)


def test_an_ankle_stays_within_its_range():
    points = dict(T_POSE)
    points[31] = (0.10, -0.70, 0.05)  # toes pointing up the shin: no ankle does that
    q = solve(pose=make_pose(points)).bones["leftFoot"]
    toes = quat.rotate(q, (0.0, 0.0, 1.0))
    pitch = math.atan2(-toes[1], math.hypot(toes[0], toes[2]))
    assert pitch == pytest.approx(ANKLE_PITCH_LIMITS[0], abs=0.5 * DEG)
    standing = solve(pose=make_pose(T_POSE)).bones
    assert math.degrees(quat.angle_between(standing["leftFoot"], quat.IDENTITY)) < 15  # flat, forward
    assert standing["leftToes"] == quat.IDENTITY


def test_standing_straight_the_legs_point_down():
    state = solve(pose=make_pose(T_POSE))
    for side in ("left", "right"):
        down = quat.rotate(quat.multiply(state.bones["hips"], state.bones[f"{side}UpperLeg"]), (0.0, -1.0, 0.0))
        assert down[1] < -0.99
        assert knee_of(state, side) == pytest.approx(0.0, abs=1 * DEG)


def test_restore_depth_lengthens_only_a_foreshortened_segment():
    toward = restore_depth((0.02, 0.07, 0.14), NOMINAL["upperArm"])  # the thumbs-up's upper arm
    assert math.hypot(*toward) == pytest.approx(NOMINAL["upperArm"], rel=1e-6) and toward[2] > 0.14
    across = (0.24, 0.0, 0.02)  # across the picture: MediaPipe's z is noise, left alone
    assert restore_depth(across, NOMINAL["upperArm"]) == across
    assert restore_depth((0.05, 0.05, 0.01), NOMINAL["upperArm"]) == (0.05, 0.05, 0.01)  # no side to pick


# ------------------------------------------------------------------ seen or not


def test_a_landmark_outside_the_picture_is_unseen_whatever_its_visibility():
    image = {13: (0.8, 1.37), 15: (0.7, 1.2)}  # below the frame, as gesture_video.mp4's elbow
    state = solve(pose=make_pose(T_POSE, visibility=0.9, image=image))
    assert "leftUpperArm" not in state.bones and state.parts["leftUpperArm"] == 0.0
    assert "rightUpperArm" in state.bones and state.parts["rightUpperArm"] == pytest.approx(0.9)


@pytest.fixture(scope="module")
def gesture():
    return body_inputs.load("gesture")["results"]


def _tracking(message):
    return parse_result(wire.pack(message), received_ms=message["ts"]["ingest"])


def test_an_elbow_below_the_frame_counts_only_when_its_hand_is_found(gesture):
    """Frame 90, the thumbs-up: both elbows are below the picture. Her right hand is found, so her
    right arm is solved; MediaPipe's guess of her left arm (its wrist in mid-picture, visibility 0.7)
    is not, and without the Hand Landmarker neither is."""
    t = _tracking(gesture[90])
    state = solve(t.faces[0], t.poses[0], t.hands)
    assert {"rightUpperArm", "rightLowerArm", "rightHand"} <= set(state.bones)
    assert not {"leftUpperArm", "leftLowerArm"} & set(state.bones)
    alone = solve(t.faces[0], t.poses[0], [])
    assert not {"leftUpperArm", "rightUpperArm"} & set(alone.bones)


def test_the_same_hand_found_twice_vouches_for_no_other_arm():
    """gesture_video.mp4 through the live pipeline at 640x360 (tests/fixtures/gesture_live.msgpack,
    the trackers answering apart as they do live): for three frames of the raised arm the Hand
    Landmarker reported her right hand twice, both "Right", a third of a hand apart; the second,
    nearer MediaPipe's guess of her left wrist, vouched for her left arm, out of the picture, and the
    avatar raised it. It counts once: her left arm is never followed, her right arm is."""
    live = body_inputs.load("gesture_live")
    twice = next(r for r in live["results"] if len(r.get("hands") or []) == 2)
    hands = [wire.Hand.from_wire(h) for h in twice["hands"]]
    assert {h.handedness for h in hands} == {"Right"}
    assert distinct_hands(hands) == [max(hands, key=lambda h: h.score)]
    other = wire.Hand("Left", hands[1].score, hands[1].landmarks, hands[1].world)
    assert len(distinct_hands([hands[0], other])) == 2, "two labels: two hands, however near"
    rig, right = Rig(), []
    for result, at in zip(live["results"], live["arrivals"]):
        if rig.offer(parse_result(wire.pack(result), received_ms=at)):
            assert rig.smoothed.parts["leftUpperArm"] == rig.smoothed.parts["leftLowerArm"] == 0.0, result["seq"]
            right.append(rig.smoothed.parts["rightLowerArm"])
    assert right[-1] == 1.0 and sum(w == 1.0 for w in right) > len(right) / 2


def test_the_thumbs_up_reaches_toward_the_viewer_and_the_other_arm_rests(gesture):
    """Through the whole thumbs-up (frames 60-194) the avatar's right hand is held out in front of
    its shoulder, toward the camera (not folded back to the chin), and its left arm hangs at rest."""
    rig = Rig()
    reach, left = [], []
    for i, message in enumerate(gesture):
        rig.offer(_tracking(message))
        smoothed = rig.smoothed
        if i < 60:
            continue
        seg = body_bench.avatar_segments(smoothed.bones)
        wrist = tuple(NOMINAL["upperArm"] * u + NOMINAL["lowerArm"] * f
                      for u, f in zip(seg[("upper arm", "right")], seg[("forearm", "right")]))
        reach.append(wrist[2])
        left.append(math.degrees(quat.angle_between(smoothed.bones["leftUpperArm"], rest_rotation("leftUpperArm"))))
    assert min(reach) > 0.3, min(reach)  # metres in front of the shoulder (a full arm: 0.48)
    assert max(left) < 1.0, max(left)


@pytest.fixture(scope="module")
def astronaut():
    return body_inputs.load("still_astronaut")["results"]


def test_a_still_photo_whose_arms_leave_the_frame_keeps_them_at_rest(astronaut):
    """The astronaut: head and shoulders, MediaPipe guesses her arms at the picture's edge (elbow at
    y 0.9-1.0, visibility up to 0.7, presence 0.05-0.25). The arms never leave their rest."""
    rig = Rig()
    for message in astronaut:
        rig.offer(_tracking(message))
        smoothed = rig.smoothed
        for side in ("left", "right"):
            assert smoothed.parts[f"{side}UpperArm"] == 0.0
            for bone in (f"{side}UpperArm", f"{side}LowerArm"):
                assert quat.angle_between(smoothed.bones[bone], rest_rotation(bone)) < 1e-6


def _presence_run(confidences, dt=1000 / 30):
    presence = Presence({"arm": (("leftUpperArm",), "pose")}, rest_rotation)
    raised = quat.axis_angle((0.0, 0.0, 1.0), 0.5)
    weights, shown = [], []
    for i, c in enumerate(confidences):
        bones = {"leftUpperArm": raised} if c >= 0.3 else {}
        out, w = presence.step(bones, {"arm": c}, lambda _: i * dt)
        weights.append(w["arm"])
        shown.append(out.get("leftUpperArm"))
    return weights, shown, raised


def test_a_limb_at_the_edge_of_detection_never_flips():
    """Confidence flickering about the threshold (0.45 / 0.55 each result), and MediaPipe missing a
    followed limb one result in three: the weight settles and stays."""
    weights, _, _ = _presence_run([0.9] * 10 + [0.45, 0.55] * 30)
    assert min(weights[10:]) == 1.0
    weights, _, _ = _presence_run([0.9] * 10 + [0.9, 0.9, 0.0] * 20)
    assert min(weights[10:]) == 1.0
    weights, _, _ = _presence_run([0.0] * 5 + [0.9, 0.0, 0.0] * 20)  # a guess that comes and goes
    assert max(weights) == 0.0


def test_a_slow_tracker_follows_a_limb_after_two_results_not_one():
    """A pose lane answering at 5 fps under load: one result that sees a limb is 200 ms after the
    last, yet it counts as half the evidence; two in a row follow it."""
    weights, _, _ = _presence_run([0.0, 0.9, 0.0, 0.0], dt=200)
    assert max(weights) == 0.0
    weights, _, _ = _presence_run([0.0, 0.9, 0.9, 0.9], dt=200)
    assert weights[:2] == [0.0, 0.0] and weights[2] > 0


def test_a_lost_limb_is_held_then_blends_to_rest():
    dt = 1000 / 30
    weights, shown, raised = _presence_run([0.9] * 15 + [0.0] * 40, dt)
    on = next(i for i, w in enumerate(weights) if w > 0)
    assert on * dt == pytest.approx(ON_MS, abs=dt)  # followed once the evidence is full
    assert shown[15 + int(OFF_MS / dt) - 2] == raised  # held through a short loss
    fading = [w for w in weights[15:] if 0 < w < 1]
    assert len(fading) == pytest.approx(BLEND_MS / dt, abs=1.5)  # then a smooth blend
    assert shown[-1] is None  # at rest, reported absent


# ------------------------------------------------------------------ the legs and the hips in the room


@pytest.fixture(scope="module")
def walker():
    """The woman walking across sports2d_demo.mp4 (right to left in the picture), smoothed."""
    messages = body_inputs.subjects(body_inputs.load("sports2d"), "sports2d")["sports2d#2"]
    rig = Rig()
    frames = []
    for message in messages:
        rig.offer(_tracking(message))
        frame = SimpleNamespace(state=rig.state, smoothed=rig.smoothed)
        feet = {side: (f.down, f.lock) for side, f in rig.state_filter.ground.feet.items()}
        frames.append((message, frame, feet))
    return frames


def test_walking_the_legs_swing_and_the_knees_bend(walker):
    knees = [knee_of(frame.smoothed, side) for _, frame, _ in walker for side in ("left", "right")
             if frame.smoothed.parts[f"{side}LowerLeg"] == 1.0]
    assert max(knees) - min(knees) > 35 * DEG
    assert min(knees) >= 0.0


def test_walking_moves_the_hips_across_the_room_and_planted_feet_stay_put(walker):
    """She walks about 5 m toward the picture's left (the rig's -X); her hips stay at standing height.
    Each foot that is down stays where it was put: its place in the room (the hips' position plus the
    foot below them) moves far less than her hips do meanwhile (a quarter; from the camera's
    estimate alone, without holding the feet, 0.35)."""
    positions = [frame.smoothed.hips_position for _, frame, _ in walker if frame.smoothed.hips_position]
    assert positions[0][0] - positions[-1][0] > 3.0
    heights = [p[1] for p in positions]
    assert REST_HIPS_HEIGHT - 0.15 < np.median(heights) < REST_HIPS_HEIGHT + 0.15
    slides, travel = [], []
    for side in ("left", "right"):
        run = []
        for _, frame, feet in walker + [(None, None, {side: (False, None)})]:
            down, lock = feet[side]
            if down and frame.smoothed.hips_position and side in frame.state.root.feet:
                foot = tuple(p + o for p, o in zip(frame.smoothed.hips_position, frame.state.root.feet[side]))
                run.append((foot, frame.smoothed.hips_position))
            elif len(run) >= 6:
                slides.append(math.dist(run[0][0][::2], run[-1][0][::2]))
                travel.append(math.dist(run[0][1][::2], run[-1][1][::2]))
                run = []
            else:
                run = []
    assert len(slides) >= 4, slides
    assert np.median(slides) < 0.25 * np.median(travel), (slides, travel)


def test_a_state_with_the_body_placed_mirrors_and_back(walker):
    state = next(frame.state for _, frame, _ in walker if frame.state.root and len(frame.state.root.feet) == 2)
    mirrored = mirror_state(state)
    assert mirrored.root.hips == (-state.root.hips[0],) + state.root.hips[1:]
    assert mirrored.root.soles["left"] == (-state.root.soles["right"][0], state.root.soles["right"][1])
    assert mirror_state(mirrored).root == state.root
    assert mirror_state(mirrored).picture == state.picture
    # the mirror image's shoulders, right to left, are the original's left to right, mirrored
    (x, y), flipped = state.picture["torso"].vectors[0], mirrored.picture["torso"].vectors[0]
    assert flipped == (x, -y)
    thigh = state.picture["rightUpperLeg"].vectors[0]  # a limb's: the other side's, mirrored
    assert mirrored.picture["leftUpperLeg"].vectors[0] == (-thigh[0], thigh[1])


LEGS_FOLLOWED = {f"{side}{seg}": 1.0 for side in ("left", "right") for seg in ("UpperLeg", "LowerLeg")}


def test_live2d_body_angles_come_from_the_hips_and_sway_with_the_legs():
    """The body angles are the upper body's in the room: the hips' turn counts. Hips swayed to the
    subject's right over the feet lean both legs alike, and the body leans with them (unmirrored:
    toward the screen's left, ParamBodyAngleZ < 0, as a head rolled the same way); legs apart lean
    opposite ways and cancel; legs the rig does not follow add nothing."""
    lean = quat.axis_angle((0.0, 0.0, 1.0), 6 * DEG)  # thighs rotated: feet toward +X, hips toward -X
    swayed = BodyState(bones={"leftUpperLeg": lean, "rightUpperLeg": lean}, parts=LEGS_FOLLOWED)
    assert live2d_params(dict(NEUTRAL), swayed)["ParamBodyAngleZ"] == pytest.approx(-6.0, abs=1e-6)
    rolled = live2d_params(dict(NEUTRAL), BodyState(bones={"neck": lean, "head": quat.IDENTITY}))
    assert rolled["ParamAngleZ"] < 0
    apart = BodyState(bones={"leftUpperLeg": lean, "rightUpperLeg": quat.conjugate(lean)}, parts=LEGS_FOLLOWED)
    assert live2d_params(dict(NEUTRAL), apart)["ParamBodyAngleZ"] == pytest.approx(0.0, abs=1e-9)
    unfollowed = BodyState(bones=swayed.bones, parts=dict.fromkeys(LEGS_FOLLOWED, 0.0))
    assert live2d_params(dict(NEUTRAL), unfollowed)["ParamBodyAngleZ"] == 0.0
    turned = BodyState(bones={"hips": quat.axis_angle((0.0, 1.0, 0.0), 5 * DEG)})
    assert abs(live2d_params(dict(NEUTRAL), turned)["ParamBodyAngleX"]) == pytest.approx(5.0, abs=1e-6)


def test_live2d_body_angles_of_a_bust_are_the_torsos_and_a_walk_moves_them(gesture, walker):
    """Seen from the waist up (no hips, no legs) the body angles are the spine's and chest's as
    before; the woman walking turns and sways the body within its range."""
    rig = Rig()
    for message in gesture[:80]:
        rig.offer(_tracking(message))
        s = rig.smoothed
        assert torso_in_room(s) == quat.multiply(quat.multiply(quat.IDENTITY, s.bones["spine"]), s.bones["chest"])
    walking = [live2d_params(dict(NEUTRAL), frame.smoothed) for _, frame, _ in walker
               if frame.smoothed.parts["hips"] == 1.0]
    for axis in ("X", "Z"):
        values = [p[f"ParamBodyAngle{axis}"] for p in walking]
        assert max(values) - min(values) > 3.0, axis
        assert all(-10.0 <= v <= 10.0 for v in values)


def _root(hips, feet_below=REST_HIPS_HEIGHT, spread=0.1):
    feet = {"left": (spread, -feet_below, 0.0), "right": (-spread, -feet_below, 0.0)}
    soles = {s: (hips[0] + f[0], hips[1] + f[1]) for s, f in feet.items()}
    return Root(hips, feet, soles)


def test_a_jump_rises_and_lands_and_a_crouch_lowers_the_hips():
    ground = Grounding()
    camera = [-0.1, -0.4, -3.0]
    assert ground.step(_root(tuple(camera)), -FIND_MS) is None  # just found: not placed yet
    t, dt = 0.0, 1000 / 30
    for _ in range(30):  # standing still: both feet down (placed once found, after FIND_MS)
        position = ground.step(_root(tuple(camera)), t)
        t += dt
    assert position[1] == pytest.approx(REST_HIPS_HEIGHT, abs=0.01)
    jump = []
    for i in range(12):  # up 0.3 m and back in 0.4 s, the feet with the body
        camera[1] = -0.4 + 0.3 * math.sin(math.pi * i / 11)
        jump.append(ground.step(_root(tuple(camera)), t)[1])
        t += dt
    assert max(jump) > REST_HIPS_HEIGHT + 0.2
    for _ in range(20):
        camera[1] = -0.4
        y = ground.step(_root(tuple(camera)), t)[1]
        t += dt
    assert y == pytest.approx(REST_HIPS_HEIGHT, abs=0.03)
    for i in range(20):  # a crouch: the hips sink 0.3 m, the feet stay on the floor
        camera[1] = -0.4 - 0.3 * min(1.0, i / 10)
        position = ground.step(_root(tuple(camera), feet_below=REST_HIPS_HEIGHT - 0.3 * min(1.0, i / 10)), t)
        t += dt
    assert position[1] == pytest.approx(REST_HIPS_HEIGHT - 0.3, abs=0.03)
    assert abs(position[0]) < 0.02 and abs(position[2]) < 0.02


def test_in_the_air_the_depth_stays_calm():
    """The camera's depth comes from the picture's scale and jitters (+-0.7 m on the man jumping on the
    box). Standing, the feet hold the body; in the air its depth moves only as the camera's smoothed depth
    does, from where the feet left it: jumping with the camera's depth off by +-0.5 m every other result,
    the hips stay within 5 cm of where they took off, and rise."""
    ground = Grounding()
    camera = [0.0, -0.4, -4.0]
    ground.step(_root(tuple(camera)), -FIND_MS)
    t, dt = 0.0, 1000 / 30
    for _ in range(30):
        before = ground.step(_root(tuple(camera)), t)
        t += dt
    flight = []
    for i in range(15):
        camera[1] = -0.4 + 0.3 * math.sin(math.pi * i / 14)
        flight.append(ground.step(_root((camera[0], camera[1], camera[2] + (0.5 if i % 2 else -0.5))), t))
        t += dt
    assert max(abs(p[2] - before[2]) for p in flight) < 0.05  # 0.2 m before the depth was smoothed
    assert max(p[1] for p in flight) > REST_HIPS_HEIGHT + 0.2


def test_every_part_has_a_tracker_and_its_bones():
    assert set(PARTS) >= {"torso", "hips", "head", "leftUpperLeg", "rightFoot", "leftHand"}
    bones = [b for part_bones, _ in PARTS.values() for b in part_bones]
    assert len(bones) == len(set(bones))
