"""Recording takes: the journal survives a crash, bad input fails clearly, and the VRMA reader inverts the writer.

The takes are real motion (gesture_video.mp4's MediaPipe results through the
server's rig, web/test/fixtures/gesture.msgpack) and a synthetic full-body
dance with legs and the hips moving in the room (live2d_pose/testing/takes.py).
tests/browser/test_recording_readers.py checks the files with readers that are not
the project's own.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pygltflib as gl
import pytest

from live2d_pose.recording import (
    Motion,
    Recorder,
    RecordingError,
    read_journal,
    read_motion,
    read_vrma,
    recover,
    write_vrma,
)
from live2d_pose.recording.journal import CHUNK_MS
from live2d_pose.recording.motion import angle_degrees, multiply
from live2d_pose.recording.skeleton import HUMANOID_BONES, humanoid_parent
from live2d_pose.rig.solve import rest_rotation
from live2d_pose.testing.takes import full_body_take, recorded_take

REPO = Path(__file__).resolve().parents[2]
FLOAT32_DEGREES = 0.01  # what float32 storage may cost a rotation


@pytest.fixture(scope="module")
def gesture():
    return recorded_take()


@pytest.fixture(scope="module")
def dance():
    return full_body_take(seconds=3.0)


def record(path: Path, take, *names: str) -> list[Path]:
    with Recorder(*(path / n for n in names)) as recorder:
        for t, state in take:
            recorder.add(t, state)
    return [path / n for n in names]


def assert_same_motion(actual: Motion, expected: Motion, degrees: float = FLOAT32_DEGREES) -> None:
    """Every channel of ``expected`` in ``actual`` at the same times, within float32."""
    assert len(actual) == len(expected)
    if not len(expected):
        return
    np.testing.assert_allclose(actual.t_ms - actual.t_ms[0], expected.t_ms - expected.t_ms[0], atol=1e-3)
    assert set(expected.bones) <= set(actual.bones)
    for name, q in expected.bones.items():
        assert angle_degrees(actual.bones[name], q).max() < degrees, name
    for group in ("expressions", "blendshapes"):
        for name, v in getattr(expected, group).items():
            np.testing.assert_allclose(getattr(actual, group)[name], v, atol=1e-6, err_msg=name)
    for attr in ("gaze", "hips"):
        if getattr(expected, attr) is not None:
            np.testing.assert_allclose(getattr(actual, attr), getattr(expected, attr), atol=1e-4, err_msg=attr)


# ------------------------------------------------------------------ the take and its files


def test_a_take_becomes_its_files_and_the_journal_goes(tmp_path, gesture):
    vrma, bvh = record(tmp_path, gesture, "take.vrma", "take.bvh")
    assert vrma.stat().st_size > 0 and bvh.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.bvh", "take.vrma"]  # no journal, no .partial
    frames = Motion.from_samples(gesture).resampled(30)
    assert_same_motion(read_motion(vrma), frames)
    assert bvh.read_text().count("\n") > len(frames)


def test_the_vrma_reader_inverts_the_writer_on_a_full_body(tmp_path, dance):
    motion = Motion.from_samples(dance)
    write_vrma(tmp_path / "dance.vrma", motion, fps=24)
    frames = motion.resampled(24)
    assert_same_motion(read_motion(tmp_path / "dance.vrma"), frames)
    states = read_vrma(tmp_path / "dance.vrma")
    assert len(states) == len(frames) and states[0][0] == 0.0
    assert states[1][0] == pytest.approx(1000 / 24, abs=1e-3)
    t, state = states[10]
    assert {"leftUpperLeg", "rightToes", "leftLittleDistal", "hips"} <= set(state.bones)
    assert state.hips_position == pytest.approx(tuple(frames.hips[10]), abs=1e-5)
    assert state.gaze["yaw"] == pytest.approx(frames.gaze[10, 0], abs=1e-3)
    assert state.gaze["pitch"] == pytest.approx(frames.gaze[10, 1], abs=1e-3)
    assert set(state.blendshapes) == set(frames.blendshapes) and "_neutral" not in state.blendshapes
    assert state.seen == {"face": True, "pose": True, "leftHand": True, "rightHand": True}


def test_resampling_follows_the_takes_times_and_rests_what_is_absent():
    h = math.radians(30)
    q0, q1 = rest_rotation("head"), (0.0, math.sin(h), 0.0, math.cos(h))  # 0 and 60 degrees about +Y
    take = [
        (1000.0, {"bones": {"head": q0}}),
        (1050.0, {"bones": {"head": q1}, "expressions": {"aa": 1.0}}),
        (1100.0, {"bones": {}, "expressions": {"aa": 0.5}}),
    ]
    frames = Motion.from_samples(take).resampled(40)  # frames at 0, 25, 50, 75, 100 ms
    np.testing.assert_allclose(frames.t_ms, [1000, 1025, 1050, 1075, 1100])
    yaw = [2 * math.degrees(math.atan2(q[1], q[3])) for q in frames.bones["head"]]
    np.testing.assert_allclose(yaw, [0, 30, 60, 30, 0], atol=1e-9)  # absent at 1100: at rest (identity)
    np.testing.assert_allclose(frames.expressions["aa"], [0, 0.5, 1, 0.75, 0.5])  # absent at 1000: 0
    arm = Motion.from_samples([(0.0, {"bones": {"leftUpperArm": (0, 0, 0, 1)}}), (100.0, {"bones": {}})])
    assert (
        angle_degrees(arm.resampled(10).bones["leftUpperArm"][-1:], np.array([rest_rotation("leftUpperArm")]))[0] < 1e-9
    )  # the arm's rest hangs down


def test_samples_out_of_order_are_dropped_and_one_at_the_same_time_replaces(tmp_path):
    recorder = Recorder(tmp_path / "t.vrma")
    recorder.add(0.0, {"expressions": {"aa": 0.0}})
    recorder.add(100.0, {"expressions": {"aa": 0.2}})
    recorder.add(100.0, {"expressions": {"aa": 1.0}})
    recorder.add(50.0, {"expressions": {"aa": 0.7}})
    recorder.add(float("nan"), {"expressions": {"aa": 0.7}})
    assert (recorder.samples, recorder.dropped) == (3, 2)
    recorder.close()
    frames = read_motion(tmp_path / "t.vrma")
    np.testing.assert_allclose(frames.expressions["aa"], [0, 1 / 3, 2 / 3, 1.0], atol=1e-6)


# ------------------------------------------------------------------ crashes


def test_a_torn_or_zeroed_tail_ends_the_take_at_its_last_whole_chunk(tmp_path, dance):
    recorder = Recorder(tmp_path / "t.vrma")
    for t, state in dance:
        recorder.add(t, state)
    recorder.stop()
    journal = tmp_path / "t.journal"
    data = journal.read_bytes()
    whole = read_journal(journal)[1]
    last_chunk = len(whole) - int(len(whole) * (1 - CHUNK_MS / whole.duration_ms)) + 2
    for damaged, lost in (
        (data + b"\0" * 4096, 0),
        (data[:-7], last_chunk),
        (data[:-7] + b"\0" * 100, last_chunk),
        (data[:200], len(whole)),
    ):  # 200 bytes: the header only
        journal.write_bytes(damaged)
        _, saved = read_journal(journal)
        assert len(whole) - lost <= len(saved) <= len(whole) - (lost > 0)
        assert_same_motion(saved, Motion.from_samples(dance[: len(saved)]))
    journal.write_bytes(data[:-7])
    assert recover(journal) == [tmp_path / "t.vrma"]
    assert len(read_motion(tmp_path / "t.vrma")) > 0


def test_a_full_disk_is_a_clear_error_and_keeps_what_was_saved(tmp_path, dance):
    recorder = Recorder(tmp_path / "t.vrma")
    half = len(dance) // 2
    for t, state in dance[:half]:
        recorder.add(t, state)
    recorder.sync()
    saved_bytes = recorder.bytes_written
    recorder._file.close()
    recorder._file = open("/dev/full", "wb")  # the kernel's full disk: every write fails with ENOSPC
    with pytest.raises(RecordingError, match="No space left on device"):
        for t, state in dance[half:]:
            recorder.add(t, state)
        recorder.stop()
    _, saved = read_journal(tmp_path / "t.journal")
    assert 0 < len(saved) < half and (tmp_path / "t.journal").stat().st_size == saved_bytes
    assert recover(tmp_path / "t.journal") == [tmp_path / "t.vrma"]


def test_bytes_a_full_disk_left_in_the_buffer_fail_the_close_the_same_clear_way(tmp_path, dance):
    recorder = Recorder(tmp_path / "t.vrma")
    recorder.sync()
    recorder._file.close()
    recorder._file = open("/dev/full", "wb")
    recorder._file.write(b"part of a record")  # buffered: the close flushes it, and the disk is full
    with pytest.raises(RecordingError, match="No space left on device"):
        recorder.stop()


# ------------------------------------------------------------------ bad input


def test_bad_outputs_are_refused_before_recording(tmp_path):
    with pytest.raises(ValueError, match="unknown format '.mp4'"):
        Recorder(tmp_path / "take.mp4")
    with pytest.raises(RecordingError, match="does not exist"):
        Recorder(tmp_path / "missing" / "take.vrma")
    (tmp_path / "file").write_text("")
    with pytest.raises(RecordingError, match="does not exist"):
        Recorder(tmp_path / "file" / "take.vrma")
    with pytest.raises(ValueError, match="fps"):
        Recorder(tmp_path / "take.vrma", fps=0)
    first = Recorder(tmp_path / "take.vrma")
    with pytest.raises(RecordingError, match="recover it first"):
        Recorder(tmp_path / "take.bvh")  # the same journal, take.journal
    first.stop()
    assert recover(tmp_path / "take.journal") == []  # no samples: no file


def test_a_header_that_cannot_be_written_leaves_no_journal(tmp_path):
    with pytest.raises(RecordingError, match="cannot start"):
        Recorder(tmp_path / "take.vrma", meta={"stream": object()})
    assert list(tmp_path.iterdir()) == []


def test_a_sample_that_is_no_body_state_is_left_out_and_counted(tmp_path):
    recorder = Recorder(tmp_path / "t.vrma")
    recorder.add(0.0, {"bones": {"head": (0, 0, 0, 1)}, "expressions": {"aa": 0.5}})
    recorder.add(10.0, {"bones": {"head": (0, 0, 1)}})  # three numbers
    recorder.add(20.0, {"bones": {"head": (0, 0, 0, 0)}, "expressions": {"aa": float("nan")}})  # absent, both
    recorder.add(30.0, {"gaze": {"yaw": 1.0}})  # no pitch
    recorder.add(40.0, {"bones": {"head": (0, 0, 0, 2)}, "expressions": {"aa": 1.0}})  # not unit: normalized
    recorder.stop()
    assert (recorder.samples, recorder.rejected) == (5, 2)
    _, saved = read_journal(tmp_path / "t.journal")
    np.testing.assert_allclose(saved.t_ms, [0, 20, 40])
    np.testing.assert_allclose(saved.bones["head"], [[0, 0, 0, 1], [np.nan] * 4, [0, 0, 0, 1]])
    np.testing.assert_allclose(saved.expressions["aa"], [0.5, np.nan, 1.0])


def test_the_reader_refuses_what_is_not_a_vrm_animation(tmp_path, dance):
    (tmp_path / "text.vrma").write_text("hello")
    with pytest.raises(ValueError, match="not a glTF binary"):
        read_vrma(tmp_path / "text.vrma")
    plain = gl.GLTF2(asset=gl.Asset(version="2.0"))
    (tmp_path / "plain.glb").write_bytes(b"".join(plain.save_to_bytes()))
    with pytest.raises(ValueError, match="not a VRM Animation"):
        read_vrma(tmp_path / "plain.glb")
    write_vrma(tmp_path / "dance.vrma", Motion.from_samples(dance))
    gltf = gl.GLTF2.load_binary(str(tmp_path / "dance.vrma"))
    gltf.animations[0].samplers[0].interpolation = gl.ANIM_CUBICSPLINE
    gltf.save_binary(str(tmp_path / "cubic.vrma"))
    with pytest.raises(ValueError, match="CUBICSPLINE"):
        read_vrma(tmp_path / "cubic.vrma")


# ------------------------------------------------------------------ another tool's rest pose


def rotate_rest_pose(source: Path, target: Path, seed: int = 1) -> None:
    """The same animation re-expressed on a skeleton whose rest nodes have rotations (VRM 1.0 allows
    them): each bone's rest gets a random local rotation, and its track values become
    ``Wp⁻¹ · n · Wb`` so that the spec's conversion gives back the same normalized rotations ``n``."""
    rng = np.random.default_rng(seed)
    gltf = gl.GLTF2.load_binary(str(source))
    ext = gltf.extensions["VRMC_vrm_animation"]["humanoid"]["humanBones"]
    node_of = {name: b["node"] for name, b in ext.items()}
    local = {}
    for name in HUMANOID_BONES:
        q = rng.normal(size=4)
        local[name] = q / np.linalg.norm(q)
        gltf.nodes[node_of[name]].rotation = local[name].tolist()
    world = {}
    for name in HUMANOID_BONES:  # parents first
        parent = next((p for p, i in node_of.items() if node_of[name] in (gltf.nodes[i].children or [])), None)
        world[name] = multiply(world[parent], local[name]) if parent else local[name]
    blob = bytearray(gltf.binary_blob())
    by_node = {i: name for name, i in node_of.items()}
    for channel in gltf.animations[0].channels:
        name = by_node.get(channel.target.node)
        if name is None or channel.target.path != "rotation":
            continue
        accessor = gltf.accessors[gltf.animations[0].samplers[channel.sampler].output]
        view = gltf.bufferViews[accessor.bufferView]
        values = np.frombuffer(blob, "<f4", accessor.count * 4, view.byteOffset).reshape(-1, 4).astype(np.float64)
        parent = humanoid_parent(name, node_of)
        wp = world[parent] if parent else np.array([0, 0, 0, 1.0])
        inv = np.array([-wp[0], -wp[1], -wp[2], wp[3]])
        raw = multiply(multiply(inv, values), world[name])
        blob[view.byteOffset : view.byteOffset + raw.size * 4] = raw.astype("<f4").tobytes()
    gltf.set_binary_blob(bytes(blob))
    gltf.save_binary(str(target))


def test_the_reader_undoes_another_tools_rest_rotations(tmp_path, dance):
    motion = Motion.from_samples(dance)
    write_vrma(tmp_path / "ours.vrma", motion)
    rotate_rest_pose(tmp_path / "ours.vrma", tmp_path / "theirs.vrma")
    assert_same_motion(read_motion(tmp_path / "theirs.vrma"), motion.resampled(30), degrees=0.05)
