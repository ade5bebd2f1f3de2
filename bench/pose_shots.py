"""Pictures of the avatars following real footage through the real pipeline, beside the video frames.

    python -m live2d_pose.bench.pose_shots                 # -> build/pose-shots/body-CLIP-AVATAR.jpg
    python -m live2d_pose.bench.pose_shots --out docs/images   # the docs' pictures
    python -m live2d_pose.bench.pose_shots --clips walk        # one clip (thumbs-up, walk, jumping-jacks)

Everything a user runs: ingest, two landmarker workers (MediaPipe), the
gateway's rig and the viewer page in Debian's Chromium (SwiftShader WebGL).
A camera client streams each clip at its own frame rate
(live2d_pose/testing/live.py, after a second and a half of its first frame,
so the trackers are warm); the pipeline drops what it cannot keep up with,
as it does live. For each avatar, the page (mirrored, the
default, and framing auto) is captured when it first shows the result of a
chosen frame, and the picture is set below that frame, flipped as a mirror
shows the person (the page mirrors by default: the person's right hand is on
the right of both pictures). The VRM samples in web/test/fixtures/vrm are a
sphere and a square skinned to a humanoid skeleton: their bones, read back
from the page, are drawn over them. Look at each one beside its frame: is it
the right arm, the right knee?

The clips: gesture_video.mp4 (the thumbs-up: her right arm held out toward
the camera, her left out of the picture); sports2d_demo.mp4 seen by two
cameras, one on its lower part (the woman walking across the lawn, then the
man landing from his jump in a lunge) and one on the box (the man doing
jumping jacks), since the pipeline follows one person per camera.
"""

from __future__ import annotations

import argparse
import base64
import logging
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from live2d_pose.testing.live import StreamingCamera, video_frames

log = logging.getLogger("live2d_pose.bench.pose_shots")

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "build" / "pose-shots"
VRM_SAMPLES = REPO / "web" / "test" / "fixtures" / "vrm"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]
VIEWPORT = {"width": 360, "height": 420}
JPEG_QUALITY = 82
SCALE = 0.6  # of the composed picture: small enough for the docs, large enough to see a finger


@dataclass(frozen=True)
class Avatar:
    label: str
    query: str  # the page's query string for it
    canvas: str  # the canvas it draws on
    skeleton: bool = False  # draw its bones over it (a sample whose mesh shows no limbs)


AVATARS = {
    "builtin-vrm": Avatar("built-in 3D avatar", "avatar=vrm", "vrm"),
    "sphere": Avatar("sphere.vrm (VRM 0.x): bones, orange left", "model=models/sphere.vrm", "vrm", True),
    "vrm1": Avatar("VRM 1.0 sample: bones, orange left",
                   "model=models/VRMC_vrm_expressions_isBinary_Overrides.vrm", "vrm", True),
    "builtin-2d": Avatar("built-in 2D avatar", "", "builtin"),
}


@dataclass(frozen=True)
class Clip:
    name: str  # the picture: body-<name>.jpg
    video: str  # in live2d_pose/testing/media
    crop: tuple[float, float, float, float]  # x0, y0, x1, y1 as shares of the frame: what the camera sees
    track: str
    frames: tuple[int, ...]  # the video frames to show
    avatars: tuple[str, ...]


CLIPS = {
    "thumbs-up": Clip("thumbs-up", "gesture_video.mp4", (0.0, 0.0, 1.0, 1.0), "face,pose,hands", (50, 120, 180),
                      ("builtin-vrm", "sphere", "vrm1", "builtin-2d")),
    "walk": Clip("walk", "sports2d_demo.mp4", (0.0, 0.45, 1.0, 1.0), "pose", (105, 125, 150, 206, 213),
                 ("builtin-vrm", "sphere")),
    "jumping-jacks": Clip("jumping-jacks", "sports2d_demo.mp4", (0.0, 0.0, 0.5, 0.5), "pose", (20, 38, 75, 110),
                          ("builtin-vrm", "sphere")),
}

# The bones drawn over a sample: each bone from the first of its parents the model has (VRM 1.0's humanoid).
PARENTS = {"spine": ("hips",), "chest": ("spine",), "neck": ("upperChest", "chest", "spine"), "head": ("neck",)}
for _side in ("left", "right"):
    PARENTS.update({f"{_side}Shoulder": ("upperChest", "chest", "spine"),
                    f"{_side}UpperArm": (f"{_side}Shoulder", "upperChest", "chest", "spine"),
                    f"{_side}LowerArm": (f"{_side}UpperArm",), f"{_side}Hand": (f"{_side}LowerArm",),
                    f"{_side}UpperLeg": ("hips",), f"{_side}LowerLeg": (f"{_side}UpperLeg",),
                    f"{_side}Foot": (f"{_side}LowerLeg",), f"{_side}Toes": (f"{_side}Foot",)})
BONE_COLOURS = {"left": (60, 120, 255), "right": (255, 150, 40), "": (90, 90, 90)}  # BGR: the avatar's sides


def web_root(into: Path) -> Path:
    """The built page (built now if missing) with the VRM samples under models/."""
    dist = REPO / "web" / "dist"
    if not (dist / "index.html").exists():
        subprocess.run(["npm", "run", "build"], cwd=REPO / "web", check=True, capture_output=True)
    shutil.copytree(dist, into, dirs_exist_ok=True)
    (into / "models").mkdir(exist_ok=True)
    for vrm in VRM_SAMPLES.glob("*.vrm"):
        shutil.copy(vrm, into / "models" / vrm.name)
    return into


CAPTURE = """(canvas) => {
  const api = window.__live2dPose;
  return { seq: api.seq, png: document.getElementById(canvas).toDataURL("image/png"), avatar: api.avatar };
}"""


def shoot_clip(pipe, browser, clip: Clip, avatar: Avatar, frames: list[np.ndarray], fps: float) -> list[dict]:
    """Stream the clip once with one avatar's page open; the page's picture when it first shows each
    chosen frame (or a later one: the pipeline drops frames it cannot keep up with)."""
    stream = f"shots-{clip.name}-{avatar.canvas}-{int(time.time() * 1000) % 100000}"
    camera = StreamingCamera(f"{pipe.camera_url}?stream={stream}&track={clip.track}", frames, fps)
    page = browser.new_page(viewport=VIEWPORT)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    shots = []
    try:
        camera.start()
        page.goto(f"{pipe.http_url}/?{avatar.query}&stream={stream}")
        page.wait_for_function(f"() => window.__live2dPose && window.__live2dPose.renderer === '{avatar.canvas}'",
                               timeout=60_000)
        page.wait_for_function("() => window.__live2dPose.framesReceived > 0", timeout=60_000)
        camera.go.set()
        wanted = list(clip.frames)
        while wanted and not camera.done.is_set():
            got = page.evaluate(CAPTURE, avatar.canvas)
            index = camera.frame_of(got["seq"])
            if index >= wanted[0]:
                shots.append({"wanted": wanted.pop(0), "index": index, **got})
                while wanted and index >= wanted[0]:  # skipped past the next one too
                    wanted.pop(0)
            time.sleep(0.01)
        camera.join(30)
        camera.check()
        if errors:
            raise RuntimeError(f"the page failed: {errors}")
    finally:
        page.close()
    log.info("%s, %s: frames %s shown for %s", clip.name, avatar.label, [s["index"] for s in shots], clip.frames)
    return shots


def picture(shot: dict, avatar: Avatar) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(base64.b64decode(shot["png"].split(",", 1)[1]), np.uint8), cv2.IMREAD_UNCHANGED)
    alpha = image[:, :, 3:4].astype(np.float32) / 255.0
    image = (image[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)  # the transparent page on white
    if avatar.skeleton and shot["avatar"]:
        draw_skeleton(image, shot["avatar"]["screen"])
    return image


def draw_skeleton(image: np.ndarray, screen: dict) -> None:
    """The avatar's bones where the page draws them (its -1..1 screen coordinates)."""
    h, w = image.shape[:2]
    at = {name: (int((x + 1) / 2 * w), int((1 - y) / 2 * h)) for name, (x, y) in screen.items()}
    for child, parents in PARENTS.items():
        parent = next((p for p in parents if p in at), None)
        if child in at and parent:
            side = "left" if child.startswith("left") else "right" if child.startswith("right") else ""
            cv2.line(image, at[parent], at[child], BONE_COLOURS[side], 4, cv2.LINE_AA)
    for point in at.values():
        cv2.circle(image, point, 4, (40, 40, 40), -1, cv2.LINE_AA)


def caption(image: np.ndarray, text: str) -> np.ndarray:
    band = np.full((26, image.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (40, 40, 40), 1, cv2.LINE_AA)
    return np.vstack([band, image])


def around_person(frame: np.ndarray) -> np.ndarray:
    """The frame's columns around the person in it (MediaPipe's pose, the points in the picture, padded),
    at least three quarters as wide as it is high; the whole frame if nobody is found."""
    from live2d_pose.testing import reference
    from live2d_pose.testing.frames import encode

    poses = reference.image_poses(encode(frame))
    if not poses:
        return frame
    h, w = frame.shape[:2]
    xs = [x for x, y in poses[0].landmarks[:, :2].tolist() if 0 <= x <= 1 and 0 <= y <= 1]
    if not xs:
        return frame
    low, centre, high = np.percentile(xs, [10, 50, 90]) * w  # robust to a point MediaPipe puts astray
    half = max((high - low) * 0.7, 0.375 * h)
    x0, x1 = int(max(0, centre - half)), int(min(w, centre + half))
    return frame[:, x0:x1]


def compose(clip: Clip, avatar: Avatar, frames: list[np.ndarray], shots: list[dict]) -> np.ndarray:
    """Each chosen moment a column: the video frame the page showed (flipped, as a mirror shows the
    person, the columns around them) above the avatar's picture."""
    height = VIEWPORT["height"]
    columns = []
    for shot in shots:
        frame = cv2.flip(around_person(frames[shot["index"]]), 1)
        frame = cv2.resize(frame, (int(frame.shape[1] * height / frame.shape[0]), height), interpolation=cv2.INTER_AREA)
        image = picture(shot, avatar)
        width = max(frame.shape[1], image.shape[1])

        def pad(im):  # centred in the column
            left = (width - im.shape[1]) // 2
            return np.pad(im, ((0, 0), (left, width - im.shape[1] - left), (0, 0)), constant_values=255)
        columns.append(np.vstack([caption(pad(frame), f"frame {shot['index']}, as a mirror shows it"),
                                  caption(pad(image), avatar.label)]))
    return np.hstack([np.pad(c, ((0, 0), (0, 6), (0, 0)), constant_values=255) for c in columns])


def shoot_pictures(pipe, browser, clip: Clip, out: Path) -> None:
    """body-<clip>-<avatar>.jpg in ``out`` for each of the clip's avatars."""
    from live2d_pose.testing import media

    frames, fps = video_frames(media.media_path(clip.video), clip.crop)
    for name in clip.avatars:
        avatar = AVATARS[name]
        shots = shoot_clip(pipe, browser, clip, avatar, frames, fps)
        composed = cv2.resize(compose(clip, avatar, frames, shots), None, fx=SCALE, fy=SCALE,
                              interpolation=cv2.INTER_AREA)
        path = out / f"body-{clip.name}-{name}.jpg"
        cv2.imwrite(str(path), composed, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        log.info("wrote %s", path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live2d_pose.bench.pose_shots", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--clips", default=",".join(CLIPS), help=f"comma list of {', '.join(CLIPS)}")
    parser.add_argument("--workers", type=int, default=2, help="landmarker processes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    clips = [CLIPS[name.strip()] for name in args.clips.split(",") if name.strip()]
    from playwright.sync_api import sync_playwright

    from live2d_pose.testing.pipeline import Pipeline

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pose-shots-") as tmp:
        root = web_root(Path(tmp) / "web")
        pipe = Pipeline(Path(tmp) / "logs", workers=args.workers, env={"LIVE2D_POSE_WEB_ROOT": str(root)}).start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for clip in clips:
                    shoot_pictures(pipe, browser, clip, args.out)
                browser.close()
        finally:
            pipe.stop_cleanly()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
