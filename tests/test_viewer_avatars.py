"""Full-body avatars in a real browser, fed through the real gateway.

The gateway runs as a process; a Replayer (live2d_pose/testing/replay.py)
pushes real MediaPipe results of gesture_video.mp4 (face, pose, hands:
web/test/fixtures/gesture.msgpack) into its results socket the way the
landmarkers do, the gateway's rig solves them, and Debian's Chromium
(SwiftShader WebGL) shows the page, which only retargets the motion.
For the VRM 0.x sample, the VRM 1.0 sample and the built-in 3D avatar it
checks: the page says renderer "vrm" and no note; bones and expressions read
back from the avatar follow the input (right arm raised, a thumbs-up curling
the fingers, a turned head, an open mouth); screenshots differ. Also: the
mirror setting moves the documented arm, a broken VRM falls back to the
built-in avatar with a note, the 2D avatars move their arms, and a VMC
receiver fed by `live2d-pose vmc` gets the same bones as the page's avatar.

Screenshots go to build/screenshots/ (docs/images/ with
LIVE2D_POSE_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import copy
import math
import shutil
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest

from live2d_pose.rig.contract import REST_HIPS_POSITION
from live2d_pose.testing import record
from live2d_pose.testing.clients import TIMEOUT
from live2d_pose.testing.pipeline import Pipeline
from live2d_pose.testing.replay import Replayer

from tests.browser import (  # noqa: F401  (browser: a fixture)
    IMAGES, MARKS, avatar_pixels, browser, built_page, changed_fraction, open_page, playwright_sync, state)

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "web" / "test" / "fixtures"
VIEWPORT = {"width": 800, "height": 600}
ARM_DOWN, ARM_UP, THUMBS_UP = 0, 45, 120  # frames of gesture_video.mp4
EASE_MS = 250  # web/src/framing.js: how long a change of framing takes to ease in

pytestmark = MARKS

AVATARS = {
    "builtin-vrm": "?avatar=vrm",
    "vrm0-sphere": "?model=models/sphere.vrm",
    "vrm1-sample": "?model=models/VRMC_vrm_expressions_isBinary_Overrides.vrm",
}


@pytest.fixture(scope="module")
def recording():
    rec = record.load(FIXTURES / "gesture.msgpack")
    # Two inputs the video lacks, made from its own first frame: the head
    # turned 30 degrees (the facial matrix rotated about +Y, to the subject's
    # left) and the jaw open (jawOpen 0.7).
    turned = copy.deepcopy(rec["results"][ARM_DOWN])
    face = turned["faces"][0]
    matrix = np.frombuffer(face["matrix"], "<f4").reshape(4, 4).copy()
    a = math.radians(30)
    yaw = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]], np.float32)
    matrix[:3, :3] = yaw @ matrix[:3, :3]
    face["matrix"] = matrix.astype("<f4").tobytes()
    opened = copy.deepcopy(rec["results"][ARM_DOWN])
    blend = np.frombuffer(opened["faces"][0]["blendshapes"], "<f4").copy()
    blend[25] = 0.7  # jawOpen (MediaPipe order)
    opened["faces"][0]["blendshapes"] = blend.astype("<f4").tobytes()
    rec["results"] += [turned, opened]
    rec["turned"], rec["opened"] = len(rec["results"]) - 2, len(rec["results"]) - 1
    return rec


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """The real gateway (and ingest; no landmarkers) serving the built page plus the sample VRMs."""
    dist = built_page().parent
    root = tmp_path_factory.mktemp("web")
    shutil.copytree(dist, root, dirs_exist_ok=True)
    (root / "models").mkdir()
    for vrm in (FIXTURES / "vrm").glob("*.vrm"):
        shutil.copy(vrm, root / "models" / vrm.name)
    (root / "models" / "broken.vrm").write_bytes(b"glTF this is not a model")
    pipe = Pipeline(tmp_path_factory.mktemp("gateway"), workers=0, env={"LIVE2D_POSE_WEB_ROOT": str(root)}).start()
    yield pipe
    pipe.stop_cleanly()


@pytest.fixture
def page(browser):
    yield from open_page(browser, VIEWPORT)


@pytest.fixture
def replay(gateway, recording):
    with Replayer(f"tcp://127.0.0.1:{gateway.results_port}", recording, stream="replay") as r:
        yield r
        r.check()


def wait_for(page, predicate, what: str, replay: Replayer | None = None, timeout: float = TIMEOUT) -> dict:
    deadline = time.monotonic() + timeout
    last = {}
    while time.monotonic() < deadline:
        if replay:
            replay.check()
        last = state(page)
        try:
            if last and predicate(last):
                return last
        except (KeyError, TypeError):
            pass
        page.wait_for_timeout(100)
    summary = {k: last.get(k) for k in ("renderer", "note", "framesReceived", "poses", "hands", "lastError")}
    raise AssertionError(f"timed out waiting for {what}; page: {summary}; console: {page.console_messages[-8:]}")


def hold(page, replay: Replayer, frame: int, predicate, what: str) -> dict:
    replay.hold(frame)
    wait_for(page, predicate, what, replay)
    page.wait_for_timeout(700)  # let the filters settle before reading and taking pictures
    return state(page)


def joint(st: dict, name: str) -> list[float]:
    return st["avatar"]["joints"][name]


def raised(st: dict, side: str) -> bool:
    """That arm's hand is above its elbow, and the elbow at least near the shoulder's height."""
    return joint(st, f"{side}Hand")[1] > joint(st, f"{side}LowerArm")[1] + 0.05


def held_out(st: dict, side: str) -> bool:
    """That hand is in front of its shoulder, toward the viewer (+z), and not hanging (in metres for a
    model whose head stands 1.4 m up)."""
    k = joint(st, "head")[1] / 1.4
    hand, shoulder = joint(st, f"{side}Hand"), joint(st, f"{side}UpperArm")
    return hand[2] - shoulder[2] > 0.2 * k and hand[1] > shoulder[1] - 0.35 * k


def hanging(st: dict, side: str, within_deg: float = 10.0) -> bool:
    """That arm is at rest: its upper and lower arm within ``within_deg`` of their rest rotations (the
    arm hanging at its side, contract.json's rest; VRM 0.x bones are in a frame turned half a turn)."""
    from live2d_pose.rig import quat
    from live2d_pose.rig.solve import rest_rotation

    def turned(q):
        return (-q[0], q[1], -q[2], q[3]) if st["avatar"]["metaVersion"] == "0" else tuple(q)

    bones = st["avatar"]["bones"]  # as the model holds them
    return all(math.degrees(quat.angle_between(bones.get(name, turned(rest_rotation(name))), turned(rest_rotation(name))))
               < within_deg for name in (f"{side}UpperArm", f"{side}LowerArm"))


def curl(q: list[float]) -> float:
    return math.degrees(2 * math.acos(min(1.0, abs(q[3]))))


@pytest.mark.parametrize("avatar", list(AVATARS))
def test_vrm_avatar_follows_face_body_and_fingers(gateway, page, replay, recording, avatar):
    IMAGES.mkdir(parents=True, exist_ok=True)
    replay.hold(ARM_DOWN)
    page.goto(f"{gateway.http_url}/{AVATARS[avatar]}")
    st = wait_for(page, lambda s: s["renderer"] == "vrm" and s["avatar"] and s["poses"] >= 1,
                  "the VRM avatar and pose results", replay)
    assert st["note"] == "", st["note"]
    assert not page.locator("#note").is_visible()
    vrm = st["avatar"]
    if avatar == "vrm0-sphere":
        assert vrm["metaVersion"] == "0"
    else:
        assert vrm["metaVersion"] == "1"
    if avatar == "builtin-vrm":
        assert vrm["perfectSync"] and vrm["springJoints"] >= 3
        # every bone of the motion (the built-in avatar has them all), and only those (read once the
        # avatar has drawn the newest motion: the torso is followed a few results after the face)
        wait_for(page, lambda s: set(s["avatar"]["bones"]) == set(s["body"]["bones"]) >= {"spine", "chest", "neck", "head"},
                 "the avatar showing every bone of the motion", replay)

    # arms down at the start; then the subject raises the RIGHT arm. Mirror
    # (the default): the avatar raises the arm on the screen's right, its LEFT.
    down = hold(page, replay, ARM_DOWN, lambda s: not raised(s, "left") and not raised(s, "right"), "arms down")
    pixels_down = avatar_pixels_vrm(page)
    page.screenshot(path=IMAGES / f"avatar-{avatar}-arms-down.png")
    up = hold(page, replay, ARM_UP, lambda s: raised(s, "left"), "the avatar's left arm raised")
    assert joint(up, "leftHand")[0] > 0, "the raised hand is on the screen's right (+x)"
    assert not raised(up, "right"), "the other arm stays down"
    pixels_up = avatar_pixels_vrm(page)
    page.screenshot(path=IMAGES / f"avatar-{avatar}-arm-up.png")
    assert changed_fraction(pixels_down, pixels_up) > 0.005, "the picture follows the arm"
    assert up["avatar"]["bones"]["leftUpperArm"] != down["avatar"]["bones"]["leftUpperArm"]

    # the thumbs-up: she holds her right arm out toward the camera, her left is out of the picture.
    # Mirrored, the avatar's LEFT hand is held out in front of its shoulder and its right arm rests.
    reach = hold(page, replay, THUMBS_UP, lambda s: held_out(s, "left"), "the avatar's left hand held out to the viewer")
    assert hanging(reach, "right"), "the arm out of the picture rests"
    page.screenshot(path=IMAGES / f"avatar-{avatar}-reach.png")

    # the thumbs-up curls the fingers of that hand (models with finger bones)
    if "leftIndexProximal" in up["avatar"]["bones"]:
        thumbs = hold(page, replay, THUMBS_UP,
                      lambda s: curl(s["avatar"]["bones"]["leftIndexIntermediate"]) > 40, "curled fingers")
        bones = thumbs["avatar"]["bones"]
        for finger in ("Index", "Middle", "Ring", "Little"):
            assert curl(bones[f"left{finger}Proximal"]) + curl(bones[f"left{finger}Intermediate"]) > 60, finger
        assert curl(bones["leftThumbProximal"]) < 45, "the thumb stays up"
        # the other hand was never seen: the motion does not drive it, it stays at rest
        assert curl(bones.get("rightIndexIntermediate", (0, 0, 0, 1))) < 10
        page.screenshot(path=IMAGES / f"avatar-{avatar}-thumbs-up.png")

    # the head turns with the face: the subject to their left, mirrored to the avatar's right
    head0 = down["avatar"]["bones"]["head"]
    turned = hold(page, replay, recording["turned"], lambda s: yaw_deg(s["avatar"]["bones"]["head"], vrm["metaVersion"]) < -8,
                  "the head turned to the avatar's right")
    assert turned["avatar"]["bones"]["head"] != head0
    pixels_turned = avatar_pixels_vrm(page)
    assert changed_fraction(pixels_down, pixels_turned) > 0.002, "the picture follows the head"

    # the mouth opens: aa (or jawOpen with Perfect Sync) where the model has it
    expressions = turned["avatar"]["expressions"]
    mouth = "jawOpen" if "jawOpen" in expressions else "aa" if "aa" in expressions else None
    if mouth:
        opened = hold(page, replay, recording["opened"], lambda s: s["avatar"]["expressions"][mouth] > 0.5, f"{mouth} > 0.5")
        assert expressions[mouth] < 0.2
        page.screenshot(path=IMAGES / f"avatar-{avatar}-mouth-open.png")
        assert opened["avatar"]["expressions"][mouth] > 0.5
    assert not page.page_errors, page.page_errors


def yaw_deg(q: list[float], meta_version: str) -> float:
    """Yaw (about +Y) of a normalized bone rotation; VRM 0.x bones are in a frame turned half a turn."""
    x, y, z, w = q
    if meta_version == "0":
        x, z = -x, -z
    return math.degrees(math.atan2(2 * (x * z + w * y), 1 - 2 * (x * x + y * y)))


def avatar_pixels_vrm(page) -> np.ndarray:
    return avatar_pixels(page, "vrm")


def test_mirror_off_moves_the_other_arm(gateway, page, replay):
    replay.hold(ARM_UP)
    page.goto(f"{gateway.http_url}/?avatar=vrm&mirror=0")
    st = hold(page, replay, ARM_UP, lambda s: s["renderer"] == "vrm" and s["avatar"] and raised(s, "right"),
              "unmirrored: the avatar's RIGHT arm raised")
    assert joint(st, "rightHand")[0] < 0, "on the screen's left"
    assert not raised(st, "left")
    assert not page.page_errors, page.page_errors


@pytest.mark.parametrize("model", ["models/broken.vrm", "models/missing.vrm"])
def test_broken_vrm_shows_the_builtin_avatar_and_a_note(gateway, page, replay, model):
    replay.hold(ARM_DOWN)
    page.goto(f"{gateway.http_url}/?model={model}")
    st = wait_for(page, lambda s: s["renderer"] == "vrm" and "could not be loaded" in s["note"], "the fallback note", replay)
    assert model in st["note"] and "built-in" in st["note"], st["note"]
    assert page.locator("#note").is_visible()
    assert page.locator("#vrm").is_visible()
    page.wait_for_timeout(500)
    assert (avatar_pixels(page, "vrm")[:, :, 3] > 0).mean() > 0.02, "an avatar is drawn, not a blank page"
    if model.endswith("broken.vrm"):
        page.screenshot(path=IMAGES / "avatar-broken-vrm-note.png")
    assert not page.page_errors, page.page_errors


def test_builtin_2d_avatar_moves_its_arms(gateway, page, replay):
    replay.hold(ARM_DOWN)
    page.goto(f"{gateway.http_url}/")
    down = hold(page, replay, ARM_DOWN, lambda s: s["poses"] >= 1 and s["avatar"]["arms"], "arms from the pose")
    assert down["renderer"] == "builtin"
    pixels_down = avatar_pixels(page, "builtin")
    up = hold(page, replay, ARM_UP, lambda s: s["avatar"]["arms"]["left"]["lowerDir"][1] > 0.5, "the left forearm up")
    assert up["avatar"]["arms"]["right"]["lowerDir"][1] < 0.3
    pixels_up = avatar_pixels(page, "builtin")
    assert changed_fraction(pixels_down, pixels_up) > 0.01
    page.screenshot(path=IMAGES / "avatar-builtin-2d-arm-up.png")
    # body angles come from the torso and head: present and within range
    for k in ("ParamBodyAngleX", "ParamBodyAngleY", "ParamBodyAngleZ"):
        assert -10 <= up["rig"][k] <= 10
    assert not page.page_errors, page.page_errors


def test_hud_lists_the_trackers(gateway, page, replay):
    replay.hold(ARM_UP)
    page.goto(f"{gateway.http_url}/?hud=1&landmarks=1")
    st = wait_for(page, lambda s: set(s["trackers"]) == {"face", "pose", "hands"} and s["trackers"]["pose"]["rate"] > 2,
                  "face, pose and hands with a live rate", replay)
    assert st["trackers"]["hands"]["latencyMs"] is not None
    # the HUD redraws every 250 ms: wait for it to show what the page knows
    playwright_sync.expect(page.locator("#hud")).to_contain_text("face, pose, hands", timeout=TIMEOUT * 1000)
    page.screenshot(path=IMAGES / "avatar-hud-trackers.png")
    assert not page.page_errors, page.page_errors


def arm_raised_deg(st: dict) -> float:
    """How far the avatar's left upper arm (mirrored: the subject's right) is from its rest, in degrees."""
    from live2d_pose.rig import quat
    from live2d_pose.rig.solve import rest_rotation

    return math.degrees(quat.angle_between(st["body"]["bones"]["leftUpperArm"], rest_rotation("leftUpperArm")))


# Less than the clocks' 5 s: a page that stepped its filters on the ingest host's clock and eased
# on its own stayed frozen that long (ahead: the easing steps were "older" than the last result;
# behind: the results were older than the easing steps).
EASE_DEADLINE = 4.0


@pytest.mark.parametrize("ingest_ahead_ms", [5000.0, -5000.0], ids=["ingest-clock-5s-ahead", "ingest-clock-5s-behind"])
def test_body_eases_back_and_returns_whatever_the_ingest_hosts_clock(gateway, page, recording, ingest_ahead_ms):
    """Results stamped by an ingest host whose clock is 5 s ahead of or behind the gateway's and the
    browser's, one message per tracker as the pipeline sends them: when they stop, the gateway's rig
    eases the raised arm back to rest within a couple of seconds, and the page shows it; when they
    come back, the arm follows at once."""
    with Replayer(f"tcp://127.0.0.1:{gateway.results_port}", recording, stream="clock",
                  clock_offset_ms=ingest_ahead_ms, per_tracker=True) as replay:
        replay.hold(ARM_UP)
        page.goto(f"{gateway.http_url}/")
        wait_for(page, lambda s: s["body"] and arm_raised_deg(s) > 45, "the right arm raised", replay)
        replay.pause()
        wait_for(page, lambda s: arm_raised_deg(s) < 10, "the arm eased back to rest", replay, EASE_DEADLINE)
        replay.hold(ARM_UP)
        wait_for(page, lambda s: arm_raised_deg(s) > 45, "the arm raised again", replay, EASE_DEADLINE)
    assert not page.page_errors, page.page_errors


def settled(page, within_deg: float = 0.05) -> dict:
    """The avatar's bones once they have stopped moving (the smoothing has caught up with a held frame)."""
    from live2d_pose.rig import quat

    before = state(page)["avatar"]["bones"]
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        page.wait_for_timeout(300)
        now = state(page)["avatar"]["bones"]
        if now.keys() == before.keys() and all(
                math.degrees(quat.angle_between(q, before[name])) < within_deg for name, q in now.items()):
            return now
        before = now
    raise AssertionError("the avatar's bones never stood still")


def test_the_page_and_a_vmc_receiver_show_the_same_bones(gateway, page, replay, tmp_path):
    """One rig: the page's VRM avatar (its normalized bones, read back from three-vrm) and a VMC
    receiver fed by a real `live2d-pose vmc` process (Unity's bones, back in VRM's frame) hold the
    same rotations, within 1 degree, on the same recording: the raised arm, and the thumbs-up."""
    from live2d_pose.rig import quat
    from live2d_pose.rig.unity import UNITY_BONES
    from tests.osc_receiver import OscReceiver
    from tests.test_vmc import VmcProcess

    vrm_name = {unity: vrm for vrm, unity in UNITY_BONES.items()}
    compared = {}
    with OscReceiver() as receiver:
        vmc = VmcProcess(tmp_path / "vmc.log", "--gateway-url", gateway.viewer_url(), "--stream", "replay",
                         "--to", f"127.0.0.1:{receiver.port}")
        try:
            vmc.wait_log("connected to the gateway")
            page.goto(f"{gateway.http_url}/?avatar=vrm")
            wait_for(page, lambda s: s["renderer"] == "vrm" and s["avatar"], "the VRM avatar", replay)
            for frame in (ARM_UP, THUMBS_UP):
                hold(page, replay, frame, lambda s: s["poses"] >= 1, f"frame {frame}")
                shown = settled(page)  # still: the page and the receiver hold the same latest motion
                sent = {}
                for message in receiver.received("/VMC/Ext/Bone/Pos")[-200:]:
                    sent[vrm_name[message.args[0]]] = quat.flip_x(message.args[4:])  # Unity -> VRM's frame
                worst = max((math.degrees(quat.angle_between(q, sent[name])), name)
                            for name, q in shown.items() if name in sent)
                compared[frame] = (worst, len(set(shown) & set(sent)))
        finally:
            vmc.stop()
    for frame, (worst, count) in compared.items():
        assert count >= 20, (frame, count)  # torso, head, both arms and a hand with its fingers
        assert worst[0] < 1.0, (frame, worst)
    assert not page.page_errors, page.page_errors


def test_a_motion_version_the_page_does_not_know_is_said_in_the_note(gateway, page):
    """A gateway newer than the page (a cached page after an upgrade): the page says so."""
    def gateway_of_the_future(ws):
        ws.send('{"type": "hello", "streams": []}')
        ws.send(msgpack.packb({"type": "motion", "v": 99, "stream": "x", "seq": 1, "ts": {}}))
    page.route_web_socket("**/ws**", gateway_of_the_future)
    page.goto(f"{gateway.http_url}/")
    st = wait_for(page, lambda s: "motion version 99" in s["note"], "the note")
    assert "this page knows version 1" in st["note"]
    assert page.locator("#note").is_visible()


# ---------------------------------------------------------------- the whole body


@pytest.fixture(scope="module")
def walk():
    """The woman walking across sports2d_demo.mp4, right to left (recorded MediaPipe results, pose)."""
    from live2d_pose.bench import fidelity_body_inputs as body_inputs

    rec = body_inputs.load("sports2d")
    return {**rec, "results": body_inputs.subjects(rec, "sports2d")["sports2d#2"]}


def bend_deg(q: list[float]) -> float:
    return math.degrees(2 * math.acos(min(1.0, abs(q[3]))))


@pytest.mark.parametrize("avatar", ["builtin-vrm", "vrm0-sphere"])
def test_vrm_avatar_walks_with_the_person_and_stays_in_the_picture(gateway, page, walk, avatar, figures):
    """The walk played at the video's 30 fps: the framing turns to the whole body once her legs are
    followed and stays so; the knees bend as she walks; the hips travel across the room (mirrored: to
    the avatar's left, +x) while every joint stays in the picture; no foot goes through the floor and
    the lower foot stays near it."""
    results = walk["results"]
    with Replayer(f"tcp://127.0.0.1:{gateway.results_port}", walk, stream="walk", rate=walk["fps"]) as replay:
        replay.hold(0)
        page.goto(f"{gateway.http_url}/{AVATARS[avatar]}&stream=walk")
        first = wait_for(page, lambda s: s["renderer"] == "vrm" and s["avatar"] and s["framesReceived"] > 0,
                         "the VRM avatar and the walk", replay)
        scale = first["avatar"]["hips"][1] / REST_HIPS_POSITION[1]  # the model's hips height over the rig's
        replay.play(range(len(results)))
        samples, end = [], time.monotonic() + len(results) / walk["fps"]
        while time.monotonic() < end:
            samples.append({**state(page)["avatar"], "at": time.monotonic()})
            if len(samples) == 20:
                page.screenshot(path=IMAGES / f"avatar-{avatar}-walk.png")
        replay.hold(len(results) - 1)
    kinds = [s["framing"]["kind"] for s in samples]
    full_from = kinds.index("full")
    assert full_from < len(kinds) / 3 and set(kinds[full_from:]) == {"full"}, kinds
    knees = [bend_deg(s["bones"][f"{side}LowerLeg"]) for s in samples for side in ("left", "right")
             if f"{side}LowerLeg" in s["bones"]]
    assert max(knees) - min(knees) > 30, (min(knees), max(knees))
    # mirrored, she walks toward the avatar's left, +x (VRM 0.x: its frame turned, -x), 3-5 m of the rig's
    sign = 1 if avatar == "builtin-vrm" else -1
    travel = max(sign * (s["hips"][0] - samples[0]["hips"][0]) for s in samples) / scale
    assert travel > 3.0, travel
    framed = [s for s in samples if s["at"] > samples[full_from]["at"] + 4 * EASE_MS / 1000]  # the switch eased
    assert len(framed) > 10
    for s in framed:
        off = {name: xy for name, xy in s["screen"].items() if max(abs(xy[0]), abs(xy[1])) > 1}
        assert not off, f"joints off the picture: {off}"
    # each foot joint's height over its height at rest: never below (through the floor), the lower foot near
    lowest = [min(s["joints"][name][1] - y for name, y in s["feetRest"].items()) for s in framed]
    figures["knee_bend_range_deg"] = max(knees) - min(knees)
    figures["hips_travel_m"] = travel
    figures["lower_foot_above_rest_cm"] = {"min": round(100 * min(lowest), 2), "median": round(100 * float(np.median(lowest)), 2),
                                           "max": round(100 * max(lowest), 2)}
    figures["joints_off_picture"] = 0
    assert min(lowest) > -0.005, "a foot through the floor"
    assert np.median(lowest) < 0.05 * scale, "the feet float"
    assert not page.page_errors, page.page_errors
