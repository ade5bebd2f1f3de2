"""The motion files, read by real readers that are not the project's own.

- VRMA: the Khronos glTF validator (npm gltf-validator) finds no error and no
  warning; @pixiv/three-vrm-animation, in headless Chromium, plays the file
  on VRM avatars (the built-in VRM 1.0, the VRM 1.0 sample, the VRM 0.x
  sample) and the bones, hips, expressions and lookAt it sets equal the
  recorded motion within 0.5 degrees (and 1e-4 for weights) at frame times and
  between them; a file whose rest pose has rotations gives the same bones.
- BVH: three.js's BVHLoader (frame count, frame time, every joint's rotation
  and the hips' position on three frames), and Blender's importer, headless,
  where Debian's blender is installed (world rotations of a few joints, the
  hips' position, frame count and rate).

The takes: real motion (gesture_video.mp4's MediaPipe results through the
rig) and a synthetic full-body dance with legs and the hips moving in the room.
"""

from __future__ import annotations

import base64
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from live2d_pose.recording import Motion, write_bvh, write_vrma
from live2d_pose.recording.bvh import joints
from live2d_pose.recording.motion import angle_degrees, interpolate, is_hand_bone, matrices, multiply
from live2d_pose.recording.skeleton import ROOM_HIPS_HEIGHT, SKELETON, TO_SKELETON
from live2d_pose.testing.takes import full_body_take, recorded_take

from tests.unit.test_recording import rotate_rest_pose

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
READERS = WEB / "test" / "readers"
DEGREES = 0.5  # the bones a reader sets vs the recorded motion
WEIGHT = 1e-4
FPS = 30.0
MODELS = {
    "builtin": WEB / "dist" / "builtin-avatar.vrm",
    "vrm1-sample": WEB / "test" / "fixtures" / "vrm" / "VRMC_vrm_expressions_isBinary_Overrides.vrm",
    "vrm0-sphere": WEB / "test" / "fixtures" / "vrm" / "sphere.vrm",
}

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not (WEB / "node_modules" / "gltf-validator").exists(),
    reason="node and web/node_modules (npm ci) are needed for the readers",
)


def upper_body_only(take):
    """The gesture take as if the hands had not been tracked: no hand or finger bones, hands unseen."""
    out = []
    for t, state in take:
        d = state.to_dict()
        d["bones"] = {k: v for k, v in d["bones"].items() if not is_hand_bone(k)}
        d["seen"] = {**d["seen"], "leftHand": False, "rightHand": False}
        out.append((t, d))
    return out


@pytest.fixture(scope="module")
def takes(tmp_path_factory):
    """name -> (folder with name.vrma and name.bvh, the take's frames at 30 fps)."""
    folder = tmp_path_factory.mktemp("takes")
    gesture = recorded_take()
    sources = {"gesture": gesture, "dance": full_body_take(seconds=3.0), "no-hands": upper_body_only(gesture)}
    out = {}
    for name, take in sources.items():
        motion = Motion.from_samples(take)
        write_vrma(folder / f"{name}.vrma", motion, fps=FPS)
        write_bvh(folder / f"{name}.bvh", motion, fps=FPS)
        out[name] = (folder, motion.resampled(FPS))
    rotate_rest_pose(folder / "dance.vrma", folder / "dance-rotated-rest.vrma")
    out["dance-rotated-rest"] = out["dance"]
    return out


def node(script: str, *args) -> dict:
    run = subprocess.run(
        ["node", str(READERS / script), *map(str, args)], cwd=WEB, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def bvh_hips(frames: Motion) -> np.ndarray:
    """The BVH root's position on every frame: the hips' position in the room on the file's skeleton (0.80 m
    standing -> 0.95 m), or the skeleton's rest without one."""
    if frames.hips is None:
        return np.broadcast_to(SKELETON["hips"].position, (len(frames), 3))
    return frames.hips * TO_SKELETON


def global_rotations(frames: Motion, bone: str) -> np.ndarray:
    """A bone's rotation in the body frame on every frame: the product of the local ones from the hips."""
    chain = []
    while bone is not None:
        chain.append(bone)
        bone = SKELETON[bone].parent
    q = np.tile([0.0, 0.0, 0.0, 1.0], (len(frames), 1))
    for name in reversed(chain):
        q = multiply(q, frames.rotations(name))
    return q


# ------------------------------------------------------------------ the glTF validator


@needs_node
@pytest.mark.parametrize("name", ["gesture", "dance", "dance-rotated-rest"])
def test_the_khronos_validator_finds_no_error(takes, name):
    folder, _ = takes[name]
    report = node("validate-gltf.mjs", folder / f"{name}.vrma")
    issues = report["issues"]
    assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, issues["messages"][:10]
    codes = {m["code"] for m in issues["messages"]}
    # infos only: the extension is not one it knows, bones and expressions are nodes without meshes
    assert codes <= {"UNSUPPORTED_EXTENSION", "NODE_EMPTY"}, codes
    assert report["info"]["animationCount"] == 1


# ------------------------------------------------------------------ three.js BVHLoader


@needs_node
@pytest.mark.parametrize("name", ["gesture", "dance", "no-hands"])
def test_threejs_bvhloader_reads_the_bvh(takes, name):
    folder, frames = takes[name]
    n = len(frames)
    sampled = [0, n // 2, n - 1]
    read = node("read-bvh.mjs", folder / f"{name}.bvh", *sampled)
    assert read["frames"] == n and read["trackLength"] == n
    assert read["frameTime"] == pytest.approx(1 / FPS, rel=1e-6)
    assert read["duration"] == pytest.approx((n - 1) / FPS, abs=1e-4)
    expected_joints = joints(fingers=name != "no-hands")
    assert [b for b in read["bones"] if b != "ENDSITE"] == expected_joints
    assert ("leftIndexDistal" in read["bones"]) == (name != "no-hands")
    assert {"leftUpperLeg", "rightLowerLeg", "leftFoot", "rightToes"} <= set(read["bones"])  # legs, always
    hips = bvh_hips(frames)
    for k in sampled:
        at = read["at"][str(k)]
        for joint in expected_joints:
            q = np.array([at[joint]["quaternion"]])
            assert angle_degrees(q, frames.rotations(joint)[k : k + 1])[0] < 0.01, (joint, k)
        np.testing.assert_allclose(at["hips"]["position"], hips[k], atol=1e-4)


# ------------------------------------------------------------------ three-vrm-animation in Chromium


def play(chromium, probe: str, model: Path, vrma: Path, times: list[float]) -> dict:
    page = chromium.new_page()
    try:
        page.set_content("<!doctype html><html><body></body></html>")
        page.add_script_tag(content=probe)
        return page.evaluate(
            "(a) => window.probeVrma(a)",
            {
                "vrm": base64.b64encode(model.read_bytes()).decode(),
                "vrma": base64.b64encode(vrma.read_bytes()).decode(),
                "times": times,
            },
        )
    finally:
        page.close()


CASES = [
    ("builtin", "gesture"),
    ("builtin", "dance"),
    ("builtin", "dance-rotated-rest"),
    ("vrm1-sample", "gesture"),
    ("vrm0-sphere", "dance"),
]


@pytest.mark.browser
@pytest.mark.parametrize("model,name", CASES, ids=[f"{m}-{n}" for m, n in CASES])
def test_three_vrm_animation_plays_the_recorded_motion(chromium, probe, takes, model, name):
    if not MODELS[model].exists():
        pytest.skip(f"{MODELS[model]} is not built (cd web && npm run build)")
    folder, frames = takes[name]
    n = len(frames)
    on_frames = list(range(0, n, 7)) + [n - 1]
    between = [k + 0.5 for k in range(3, n - 1, 29)]  # three.js interpolates keys as we resample: slerp, lerp
    times = [k / FPS for k in on_frames + between]
    read = play(chromium, probe, MODELS[model], folder / f"{name}.vrma", times)
    vrm0 = read["metaVersion"] == "0"
    frame_times = (frames.t_ms - frames.t_ms[0]) / 1000.0
    at = np.asarray(times)

    def expected_bone(bone: str) -> np.ndarray:
        q = interpolate(frame_times, frames.rotations(bone), at, rotation=True)
        return q * [-1, 1, -1, 1] if vrm0 else q  # three-vrm's VRM 0.x frame faces -Z: half a turn about Y

    # the file animates every recorded bone and the arms (at rest when not recorded) ...
    assert set(read["humanoidTracks"]) == set(frames.bones) | {"leftUpperArm", "rightUpperArm"}
    played = set(read["humanoidTracks"]) & set(read["samples"][0]["bones"])  # ... the avatar has some of them
    assert {"hips", "head", "leftUpperArm", "rightLowerArm"} <= played
    worst = {}
    for bone in played:
        actual = np.array([s["bones"][bone] for s in read["samples"]])
        worst[bone] = float(angle_degrees(actual, expected_bone(bone)).max())
    assert max(worst.values()) < DEGREES, sorted(worst.items(), key=lambda kv: -kv[1])[:5]

    if frames.hips is not None:  # the person's place in the room on the avatar: standing there, standing here
        scale = read["modelRestHips"][1] / ROOM_HIPS_HEIGHT
        hips = interpolate(frame_times, frames.hips, at) * scale
        actual = np.array([s["hips"] for s in read["samples"]])
        np.testing.assert_allclose(actual, hips * [-1, 1, -1] if vrm0 else hips, atol=1e-4)
        assert read["translationTracks"] == ["hips"]

    expressions = {**frames.expressions, **frames.blendshapes}
    assert set(read["presetTracks"]) == set(frames.expressions)  # the presets, ARKit's as custom ones
    assert set(read["customTracks"]) == set(frames.blendshapes)
    for expression in set(expressions) & set(read["samples"][0]["expressions"]):  # those the avatar has
        actual = np.array([s["expressions"][expression] for s in read["samples"]])
        np.testing.assert_allclose(
            actual, interpolate(frame_times, expressions[expression], at), atol=WEIGHT, err_msg=expression
        )

    if read["samples"][0]["lookAt"] is not None and frames.gaze is not None:
        gaze = interpolate(frame_times, frames.gaze, at)
        yaw = np.array([s["lookAt"]["yaw"] for s in read["samples"]])
        pitch = np.array([s["lookAt"]["pitch"] for s in read["samples"]])
        np.testing.assert_allclose(yaw, gaze[:, 0], atol=DEGREES)
        np.testing.assert_allclose(pitch, -gaze[:, 1], atol=DEGREES)  # VRM's pitch is + down
    assert not [w for w in read["warnings"] if "VRMAnimation" in w or "violates" in w], read["warnings"]


# ------------------------------------------------------------------ Blender


BLENDER_READ = """
import builtins, json, sys
import bpy
import io_anim_bvh.import_bvh as importer
# Debian's Blender 3.4 runs Python 3.11, whose open() no longer takes the importer's mode 'rU'.
importer.open = lambda f, mode="r", *a, **k: builtins.open(f, mode.replace("U", ""), *a, **k)
path, out, *frames = sys.argv[sys.argv.index("--") + 1:]
bpy.ops.import_anim.bvh(filepath=path, update_scene_fps=True)
obj = bpy.context.view_layer.objects.active
scene = bpy.context.scene
result = {"fps": scene.render.fps / scene.render.fps_base, "range": list(obj.animation_data.action.frame_range),
          "bones": [b.name for b in obj.pose.bones], "at": {}}
for f in map(int, frames):
    scene.frame_set(scene.frame_start + f)
    at = result["at"][f] = {}
    for pb in obj.pose.bones:
        pose = (obj.matrix_world @ pb.matrix).to_3x3().normalized()
        rest = (obj.matrix_world @ pb.bone.matrix_local).to_3x3().normalized()
        at[pb.name] = {"rotation": [list(r) for r in pose @ rest.inverted()], "head": list(obj.matrix_world @ pb.head)}
json.dump(result, open(out, "w"))
"""
# The BVH's frame (Y up, facing +Z) in Blender's, as its importer's defaults (forward -Z, up Y) turn it.
TO_BLENDER = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])


@pytest.mark.skipif(shutil.which("blender") is None, reason="Blender is not installed (apt-get install blender)")
@pytest.mark.parametrize("name", ["gesture", "dance"])
def test_blender_imports_the_bvh(takes, name, tmp_path):
    folder, frames = takes[name]
    n = len(frames)
    sampled = [0, n // 2, n - 1]
    out = tmp_path / "blender.json"
    run = subprocess.run(
        [
            "blender",
            "-b",
            "--factory-startup",
            "--python-expr",
            BLENDER_READ,
            "--",
            str(folder / f"{name}.bvh"),
            str(out),
            *map(str, sampled),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0 and out.exists(), run.stdout[-2000:] + run.stderr[-2000:]
    read = json.loads(out.read_text())
    assert read["fps"] == pytest.approx(FPS, rel=1e-5)
    assert read["range"] == [1.0, float(n)]
    assert read["bones"] == joints(fingers=True)
    hips = bvh_hips(frames)
    for bone in (
        "hips",
        "chest",
        "head",
        "leftUpperArm",
        "rightLowerArm",
        "rightHand",
        "leftIndexIntermediate",
        "rightThumbProximal",
        "leftLowerLeg",
        "rightFoot",
    ):
        expected = TO_BLENDER @ matrices(global_rotations(frames, bone)) @ TO_BLENDER.T
        for k in sampled:
            actual = np.array(read["at"][str(k)][bone]["rotation"])
            cos = (np.trace(actual @ expected[k].T) - 1) / 2
            assert math.degrees(math.acos(min(1.0, max(-1.0, cos)))) < DEGREES, (bone, k)
    for k in sampled:
        np.testing.assert_allclose(read["at"][str(k)]["hips"]["head"], TO_BLENDER @ hips[k], atol=1e-3)
