"""Inputs of the body's fidelity figures: real MediaPipe results, recorded once into test fixtures.

    python -m live2d_pose.bench.fidelity_body_inputs            # record the missing fixtures
    python -m live2d_pose.bench.fidelity_body_inputs --fresh    # record them all again

Each input is a recording (live2d_pose.testing.record's format) kept in
tests/fixtures/ (or web/test/fixtures/ for the gesture clip the viewer's tests
share), so the tests and the benchmark never run MediaPipe on a long clip:

- sports2d: sports2d_demo.mp4, the Pose Landmarker looking for two bodies;
  the man on the box (jumping jacks, then a jump down to a lunge) and the
  woman walking across the lawn, full-body;
- gesture: gesture_video.mp4, upper body; she holds out her right arm toward
  the camera (a thumbs-up), her left arm out of the picture;
- gesture_live: the same clip through the live pipeline (real processes, the
  trackers answering apart, frames dropped; not a figure's input: a test's);
- still_astronaut: scikit-image's astronaut, head and shoulders, arms out of
  the frame (the usual webcam framing), held still for 6 s at 15 fps;
- still_sitting: pose_test.jpg, a woman sitting on a street, limbs in view,
  held still the same way.

The stills get sensor-like noise (Gaussian, sigma 6, and a JPEG re-encode per
frame), as a real camera gives: every wobble of the avatar is jitter.

``subjects`` splits a recording into one sequence per person (two people in
sports2d), each as if the camera saw that person alone.
"""

from __future__ import annotations

import argparse
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

log = logging.getLogger("live2d_pose.bench.fidelity")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
STILL_FPS = 15.0
STILL_FRAMES = 90
STILL_NOISE = {"sigma": 6.0, "quality": 80, "seed": 13}
MATCH = 0.2  # a body this close (image units) to where a person last was is that person
MAX_GAP = 10  # frames a person may go unfound and still be the same person
MIN_FRAMES = 20  # fewer than this: not a subject worth measuring


@dataclass(frozen=True)
class BodyInput:
    name: str
    about: str
    kind: str  # "video" (agreement), "still" (stillness) or "live" (tests only)
    fixture: Path
    make: Callable[[], dict]


def _clip(media_name: str, tracks: tuple[str, ...], max_poses: int = 1) -> Callable[[], dict]:
    def make() -> dict:
        from live2d_pose.testing import media, record

        return record.record(media.media_path(media_name), tracks, max_poses=max_poses)
    return make


def _live(media_name: str, tracks: tuple[str, ...]) -> Callable[[], dict]:
    def make() -> dict:
        from live2d_pose.testing import live, media

        return live.record_live(media.media_path(media_name), tracks)
    return make


def _still(image: Callable, label: str) -> Callable[[], dict]:
    def make() -> dict:
        from live2d_pose.bench.fidelity_inputs import noisy_stills
        from live2d_pose.testing import record

        jpegs = noisy_stills(image(), STILL_FRAMES, **STILL_NOISE)
        timestamps = [round(i * 1000.0 / STILL_FPS) for i in range(STILL_FRAMES)]
        return record.record_frames(jpegs, timestamps, f"{label}, still at {STILL_FPS:g} fps, noise sigma "
                                    f"{STILL_NOISE['sigma']}, JPEG q{STILL_NOISE['quality']}", STILL_FPS)
    return make


def _astronaut():
    from live2d_pose.testing import frames

    return frames.render()


def _sitting():
    import cv2

    from live2d_pose.testing import media

    return cv2.imread(str(media.media_path("pose_test.jpg")), cv2.IMREAD_COLOR)


INPUTS: dict[str, BodyInput] = {i.name: i for i in (
    BodyInput("sports2d", "sports2d_demo.mp4, 30 fps, 1280x720: a man jumps on and down from a box, a woman "
              "walks across a lawn; full-body", "video", FIXTURES / "sports2d.msgpack",
              _clip("sports2d_demo.mp4", ("pose",), max_poses=2)),
    BodyInput("gesture", "gesture_video.mp4, 25 fps, 1280x720: upper body; the right arm held out toward the "
              "camera, the left out of the picture", "video", REPO / "web" / "test" / "fixtures" / "gesture.msgpack",
              _clip("gesture_video.mp4", ("face", "pose", "hands"))),
    BodyInput("gesture_live", "gesture_video.mp4 through the live pipeline, 640x360: the trackers answering "
              "apart, frames dropped (live2d_pose.testing.live)", "live", FIXTURES / "gesture_live.msgpack",
              _live("gesture_video.mp4", ("face", "pose", "hands"))),
    BodyInput("still_astronaut", "the astronaut photo (head and shoulders, arms out of the frame) held still, "
              "15 fps, 6 s, noise", "still", FIXTURES / "still_astronaut.msgpack",
              _still(_astronaut, "astronaut photo")),
    BodyInput("still_sitting", "pose_test.jpg (a woman sitting, limbs in view) held still, 15 fps, 6 s, noise",
              "still", FIXTURES / "still_sitting.msgpack", _still(_sitting, "pose_test.jpg")),
)}


FIGURE_INPUTS = [name for name, spec in INPUTS.items() if spec.kind != "live"]  # the figures' inputs


def load(name: str, fresh: bool = False) -> dict:
    """A recording, made (MediaPipe) and written to its fixture only when missing or ``fresh``."""
    from live2d_pose import wire
    from live2d_pose.testing import record

    spec = INPUTS[name]
    if fresh or not spec.fixture.exists():
        log.info("recording %s into %s (MediaPipe, VIDEO mode)", name, spec.fixture)
        spec.fixture.parent.mkdir(parents=True, exist_ok=True)
        tmp = spec.fixture.with_suffix(".part")
        tmp.write_bytes(wire.pack(spec.make()))
        tmp.replace(spec.fixture)
    return record.load(spec.fixture)


def _hips_centre(pose: dict) -> tuple[float, float]:
    import numpy as np

    lm = np.frombuffer(pose["landmarks"], "<f4").reshape(-1, 5)
    return float(lm[23:25, 0].mean()), float(lm[23:25, 1].mean())


def subjects(recording: dict, name: str) -> dict[str, list[dict]]:
    """One message list per person: each frame's bodies go to the person last seen nearest (hips in the
    image, within MATCH and MAX_GAP frames), a body nobody claims starts a new person, a second body on
    one person (MediaPipe sometimes finds one twice) is dropped. Each person's messages run from the
    frame they appear to the frame they leave, with ``poses`` empty where they were not found."""
    results = recording["results"]
    people: list[dict] = []  # {"at": (x, y), "last": frame, "poses": {frame: pose}}
    for index, result in enumerate(results):
        claimed = set()
        for pose in result.get("poses") or []:
            at = _hips_centre(pose)
            near = [(math.dist(at, p["at"]), k) for k, p in enumerate(people)
                    if k not in claimed and index - p["last"] <= MAX_GAP]
            distance, k = min(near, default=(math.inf, None))
            if distance > MATCH:
                if any(math.dist(at, people[c]["at"]) <= MATCH for c in claimed):
                    continue  # the same person found twice
                people.append({"at": at, "last": index, "poses": {}})
                k = len(people) - 1
            people[k].update(at=at, last=index)
            people[k]["poses"][index] = pose
            claimed.add(k)
    out = {}
    for k, person in enumerate(p for p in people if len(p["poses"]) >= MIN_FRAMES):
        frames = sorted(person["poses"])
        label = name if len(people) == 1 else f"{name}#{k + 1}"
        out[label] = [{**results[i], "stream": label, "poses": [person["poses"][i]] if i in person["poses"] else []}
                      for i in range(frames[0], frames[-1] + 1)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live2d_pose.bench.fidelity_body_inputs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fresh", action="store_true", help="record every fixture again")
    parser.add_argument("names", nargs="*", default=list(INPUTS), help=f"of {', '.join(INPUTS)}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    for name in args.names:
        recording = load(name, fresh=args.fresh)
        people = subjects(recording, name)
        log.info("%s: %d results, subjects %s", name, len(recording["results"]),
                 {k: sum(bool(m["poses"]) for m in v) for k, v in people.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
