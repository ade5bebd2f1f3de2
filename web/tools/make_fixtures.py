"""Dump real MediaPipe face landmarks into web/test/fixtures/*.json.

The viewer's node tests feed these to KalidoKit and the rig, so they exercise
real 478-point geometry instead of hand-made points. Run from the repo root:

    .venv/bin/python web/tools/make_fixtures.py
"""

import json
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision
from skimage import data

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "services" / "landmarker" / "face_landmarker.task"
OUT = ROOT / "web" / "test" / "fixtures"


def variants(rgb):
    h, w = rgb.shape[:2]
    yield "straight", rgb
    yield "mirrored", rgb[:, ::-1].copy()
    for angle in (-20, 20):
        # rotate about the face, roughly the upper middle of the photo
        m = cv2.getRotationMatrix2D((w * 0.45, h * 0.3), angle, 1.0)
        yield (
            f"roll{angle:+d}".replace("+", "p").replace("-", "m"),
            cv2.warpAffine(rgb, m, (w, h), borderMode=cv2.BORDER_REPLICATE),
        )


def main():
    rgb = data.astronaut()
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(MODEL)),
        running_mode=vision.RunningMode.IMAGE,
        num_faces=1,
        output_face_blendshapes=True,
        output_facial_transformation_matrixes=True,
    )
    OUT.mkdir(parents=True, exist_ok=True)
    with vision.FaceLandmarker.create_from_options(options) as landmarker:
        for name, img in variants(rgb):
            result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(img)))
            if not result.face_landmarks:
                print(name, "no face")
                continue
            lms = result.face_landmarks[0]
            fixture = {
                "source": f"skimage.data.astronaut(), {name}",
                "imageSize": {"width": img.shape[1], "height": img.shape[0]},
                "landmarks": [[round(p.x, 6), round(p.y, 6), round(p.z, 6)] for p in lms],
                "blendshapeNames": [c.category_name for c in result.face_blendshapes[0]],
                "blendshapes": [round(c.score, 6) for c in result.face_blendshapes[0]],
                "matrix": [
                    round(float(v), 6) for v in np.asarray(result.facial_transformation_matrixes[0]).reshape(-1)
                ],
            }
            (OUT / f"{name}.json").write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
            print(name, len(lms), "landmarks")


if __name__ == "__main__":
    main()
