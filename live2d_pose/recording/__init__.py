"""Motion capture to files: record body states as VRM Animation (.vrma) and BVH, and read a .vrma back.

    from live2d_pose.recording import Recorder, recover, read_vrma

    with Recorder("take.vrma", "take.bvh", fps=30) as recorder:   # a journal, take.journal, meanwhile
        recorder.add(t_ms, state)                                 # docs/rig.md's body state, any rate
    # -> take.vrma and take.bvh, resampled to 30 fps; the journal is gone

    recover("take.journal")        # a take cut short by a crash: its files, up to its last second
    read_vrma("take.vrma")         # -> [(t_ms, BodyState), ...], one per frame

- journal.py: ``Recorder``, the crash-safe journal, ``recover``;
- motion.py: ``Motion``, a take as one array per channel, and resampling;
- vrma.py: VRMC_vrm_animation 1.0 writer and reader (pygltflib);
- bvh.py: the BVH writer;
- skeleton.py: the T-pose skeleton both files carry.

docs/recording.md describes the files.
"""

from live2d_pose.recording.journal import Recorder, RecordingError, convert, read_journal, recover, recover_all
from live2d_pose.recording.motion import DEFAULT_FPS, Motion
from live2d_pose.recording.bvh import write_bvh
from live2d_pose.recording.vrma import read_motion, read_vrma, write_vrma

__all__ = [
    "DEFAULT_FPS",
    "Motion",
    "Recorder",
    "RecordingError",
    "convert",
    "read_journal",
    "read_motion",
    "read_vrma",
    "recover",
    "recover_all",
    "write_bvh",
    "write_vrma",
]
