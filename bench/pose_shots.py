"""Pictures of the body solve: the person in the video beside a VRM in the rig's smoothed state.

    python -m live2d_pose.bench.pose_shots                 # -> build/pose-shots/body-*.jpg
    python -m live2d_pose.bench.pose_shots --out docs/images   # the docs' pictures
    python -m live2d_pose.bench.pose_shots --vrm path.vrm      # another VRM

The recorded MediaPipe results of the body fixtures (fidelity_body_inputs.py)
go through live2d_pose.rig as the outputs use it; at chosen moments the
smoothed state is put on a VRM (the built-in avatar by default, built by
web/tools/build-vrm.mjs) in a full-body view (web/tools/pose-shot.html,
headless Chromium), and the picture is set beside the video frame it came
from, cropped around the person. The avatar faces the camera as the person
does (not mirrored: its left arm is on the picture's right; some shots are
seen from a side as well, where a reach toward the camera shows), stays centred
(the hips' travel across the room is not shown) and rises and sinks with the
hips' height. Look at each one: is it the right arm, the right knee?
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import logging
import subprocess
import threading
from pathlib import Path

import cv2
import numpy as np

from live2d_pose import wire
from live2d_pose.bench import fidelity_body_inputs as inputs
from live2d_pose.rig.ground import REST_HIPS_HEIGHT

log = logging.getLogger("live2d_pose.bench.pose_shots")

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "build" / "pose-shots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]
SIZE = (270, 360)  # the avatar's picture, and the height of the video's crop
JPEG_QUALITY = 85  # video frames beside the avatar: a photograph's format keeps the files small
# (input, subject, media file, (result index, view: degrees round to the avatar's left) ..., picture name)
SHOTS = (
    ("sports2d", "sports2d#2", "sports2d_demo.mp4", ((40, 0), (55, 0), (70, 0), (85, 0)), "walk"),
    ("sports2d", "sports2d#1", "sports2d_demo.mp4", ((20, 0), (38, 0), (75, 0), (110, 0)), "jumping-jacks"),
    ("sports2d", "sports2d#3", "sports2d_demo.mp4", ((12, 0), (27, 0)), "landing"),
    ("gesture", "gesture", "gesture_video.mp4", ((45, 0), (100, 0), (100, -60)), "thumbs-up"),
)


def smoothed_states(messages: list[dict]) -> list[dict]:
    from live2d_pose.rig import Rig
    from live2d_pose.rig.results import parse_result

    rig, states = Rig(), []
    for m in messages:
        rig.offer(parse_result(wire.pack(m), received_ms=m["ts"]["ingest"]))
        states.append(rig.smoothed.to_dict())
    return states


def video_frame(media_name: str, index: int) -> np.ndarray:
    from live2d_pose.testing import media

    capture = cv2.VideoCapture(str(media.media_path(media_name)))
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = capture.read()
    finally:
        capture.release()
    if not ok:
        raise OSError(f"{media_name}: no frame {index}")
    return image


def crop_around(image: np.ndarray, message: dict) -> np.ndarray:
    """The part of the frame around the body (its landmarks' box, padded), SIZE's height."""
    h, w = image.shape[:2]
    if message.get("poses"):
        lm = wire.Pose.from_wire(message["poses"][0]).landmarks[:, :2]
        inside = lm[(lm[:, 0] > 0) & (lm[:, 0] < 1) & (lm[:, 1] > 0) & (lm[:, 1] < 1)]
        x0, y0 = inside.min(0) * (w, h)
        x1, y1 = inside.max(0) * (w, h)
        pad = 0.15 * max(x1 - x0, y1 - y0)
        x0, y0, x1, y1 = int(max(0, x0 - pad)), int(max(0, y0 - pad)), int(min(w, x1 + pad)), int(min(h, y1 + pad))
        image = image[y0:y1, x0:x1]
    scale = SIZE[1] / image.shape[0]
    return cv2.resize(image, (max(1, int(image.shape[1] * scale)), SIZE[1]), interpolation=cv2.INTER_AREA)


@functools.cache
def built_in_vrm() -> Path:
    out = REPO / "build" / "pose-shots" / "builtin-avatar.vrm"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["node", "tools/build-vrm.mjs", str(out)], cwd=REPO / "web", check=True, capture_output=True)
    return out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def shoot(vrm: Path, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(REPO)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": SIZE[0], "height": SIZE[1]})
            page.goto(f"{base}/web/tools/pose-shot.html")
            page.wait_for_function("typeof window.load === 'function'")
            page.evaluate("(url) => window.load(url)", f"{base}/{vrm.resolve().relative_to(REPO)}")
            for name, subject, media_name, indices, label in SHOTS:
                messages = inputs.subjects(inputs.load(name), name)[subject]
                states = smoothed_states(messages)
                row = []
                for i, view in indices:
                    state, message = states[i], messages[i]
                    p_ = state["hipsPosition"]
                    origin = [p_[0], p_[2]] if p_ else [0.0, 0.0]
                    page.evaluate("([s, o]) => window.pose(s, o)",
                                  [state, {"restHipsHeight": REST_HIPS_HEIGHT, "origin": origin, "view": view}])
                    page.wait_for_function("window.ready")
                    png = page.evaluate("() => document.getElementById('view').toDataURL('image/png')")
                    avatar = cv2.imdecode(np.frombuffer(base64.b64decode(png.split(",", 1)[1]), np.uint8),
                                          cv2.IMREAD_COLOR)
                    frame = video_frame(media_name, message["seq"] - 1)
                    row.append(np.hstack([crop_around(frame, message), avatar]))
                    row.append(np.full((SIZE[1], 8, 3), 255, np.uint8))
                path = out / f"body-{label}.jpg"
                cv2.imwrite(str(path), np.hstack(row[:-1]), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                written.append(path)
                log.info("wrote %s", path)
            browser.close()
    finally:
        server.shutdown()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live2d_pose.bench.pose_shots", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vrm", type=Path, help="a VRM file (default: the built-in avatar)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    shoot(args.vrm or built_in_vrm(), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
