"""A take whose recorder is killed mid-recording (a real child process, SIGKILL) is
recovered up to its last second. The rest of the recording's tests: tests/unit/test_recording.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from live2d_pose.recording import Motion, read_journal, read_motion, recover_all
from live2d_pose.recording.journal import CHUNK_MS
from live2d_pose.testing.takes import full_body_take

from tests.unit.test_recording import assert_same_motion

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import sys, time
from live2d_pose.recording import Recorder
from live2d_pose.testing.takes import full_body_take
take = full_body_take(seconds=4.5)
recorder = Recorder(sys.argv[1], sys.argv[2])
for t, state in take:
    recorder.add(t, state)
recorder.sync()  # the chunks handed to the writer thread are on disk (but not the last second)
print(len(take), flush=True)
time.sleep(60)
"""


def test_a_take_killed_mid_recording_is_recovered_up_to_its_last_second(tmp_path):
    vrma, bvh = tmp_path / "take.vrma", tmp_path / "take.bvh"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(vrma), str(bvh)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        added = int(child.stdout.readline())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert added > 0 and not vrma.exists()
    header, saved = read_journal(tmp_path / "take.journal")
    take = full_body_take(seconds=4.5)
    assert header["outputs"] == ["take.vrma", "take.bvh"]
    assert take[-1][0] - take[0][0] - CHUNK_MS < saved.duration_ms <= take[-1][0] - take[0][0]
    assert_same_motion(saved, Motion.from_samples(take[: len(saved)]))  # exactly the first samples
    assert recover_all(tmp_path) == [vrma, bvh]
    assert not (tmp_path / "take.journal").exists()
    assert read_motion(vrma).duration_ms == pytest.approx(saved.duration_ms, abs=1000 / 30)
