"""Real face frames for tests and the benchmark, made from scikit-image's
astronaut photo (Eileen Collins, NASA, public domain; 512x512 RGB).

The photo is scaled up a little and placed in a canvas (640x480 unless told,
mid-grey where the photo does not reach) with the face near the middle, then
shifted and rotated about the face per frame. Everything is deterministic: the
same arguments give the same JPEG bytes. tests/system/test_frames.py checks with
MediaPipe's FaceLandmarker that every frame made here holds a face.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

SIZE = (640, 480)
# Where the face is in the 512x512 photo (between the eyes, roughly); the
# rotations turn about this point so the face stays in the frame.
FACE_CENTER = (220.0, 130.0)
# The photo is scaled to ZOOM times the canvas' short side and the face put at
# FACE_AT (fractions of the canvas): the face is then about a fifth of the
# short side, big enough for MediaPipe's short-range face detector at any
# canvas size (at 1280x720 with the photo merely fitted, it missed most frames).
ZOOM = 1.4
FACE_AT = (0.5, 0.4)
BACKGROUND = 128


@lru_cache(maxsize=1)
def _astronaut_bgr() -> np.ndarray:
    from skimage import data

    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    image.setflags(write=False)
    return image


def render(
    angle: float = 0.0, shift: tuple[float, float] = (0, 0), mirror: bool = False, size: tuple[int, int] = SIZE
) -> np.ndarray:
    """The photo as a BGR array of `size` (width, height), rotated `angle`
    degrees (counter-clockwise) about the face, moved by `shift` pixels."""
    photo = _astronaut_bgr()
    width, height = size
    scale = ZOOM * min(width, height) / photo.shape[0]
    # the face lands on the same canvas point whether mirrored or not, so a
    # tracker following it does not lose it when the mirror flips
    cx, cy = FACE_CENTER
    if mirror:
        photo = photo[:, ::-1]
        cx = photo.shape[1] - 1 - cx
    target_x = width * FACE_AT[0] + shift[0]
    target_y = height * FACE_AT[1] + shift[1]
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    matrix[0, 2] += target_x - cx
    matrix[1, 2] += target_y - cy
    return cv2.warpAffine(
        np.ascontiguousarray(photo),
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(BACKGROUND,) * 3,
    )


def encode(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    assert ok, "JPEG encoding failed"
    return buf.tobytes()


def decode(jpeg: bytes) -> np.ndarray:
    """JPEG (or PNG, WebP) bytes to a BGR array."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable image")
    return image


def astronaut_frame(
    angle: float = 0.0,
    shift: tuple[float, float] = (0, 0),
    mirror: bool = False,
    size: tuple[int, int] = SIZE,
    quality: int = 85,
) -> bytes:
    """One JPEG frame of the astronaut (see render)."""
    return encode(render(angle, shift, mirror, size), quality)


def motion(count: int, seed: int = 0) -> list[tuple[float, tuple[float, float]]]:
    """(angle, shift) per frame: smooth sines, +-10 degrees and +-20 px, with
    periods and phases drawn from `seed`."""
    rng = np.random.default_rng(seed)
    periods = rng.uniform(40, 90, size=3)
    phases = rng.uniform(0, 2 * math.pi, size=3)
    out = []
    for i in range(count):
        a, x, y = (math.sin(2 * math.pi * i / p + ph) for p, ph in zip(periods, phases))
        out.append((10.0 * a, (20.0 * x, 20.0 * y)))
    return out


def astronaut_frames(count: int, size: tuple[int, int] = SIZE, seed: int = 0, quality: int = 85) -> list[bytes]:
    """`count` JPEG frames of the astronaut moving and rotating a little, smoothly."""
    return [astronaut_frame(angle, shift, False, size, quality) for angle, shift in motion(count, seed)]


TURN_ANGLES = (-25.0, -15.0, -5.0, 0.0, 5.0, 15.0, 25.0)


def turned_frames(
    angles: tuple[float, ...] = TURN_ANGLES, size: tuple[int, int] = SIZE, quality: int = 85, mirrored: bool = True
) -> list[bytes]:
    """Frames where the head clearly tilts: in-plane roll over `angles`, then,
    with `mirrored`, the mirrored photo (the head turned the other way) over
    the same angles in reverse, so the sequence has no jump a tracker could
    lose and rig values (roll, yaw) visibly change from frame to frame."""
    frames = [astronaut_frame(angle, (0, 0), False, size, quality) for angle in angles]
    if mirrored:
        frames += [astronaut_frame(angle, (0, 0), True, size, quality) for angle in reversed(angles)]
    return frames


def costly_frames(
    frames: list[bytes], size: tuple[int, int] = (3840, 2160), noise: float = 20.0, quality: int = 90, seed: int = 7
) -> list[bytes]:
    """Frames made slow to decode, as a hostile or careless camera sends them: scaled up to
    ``size`` with noise added (JPEG codes noise at great length), at high quality. From
    640x360 frames of the gesture video: 3.4 MB each, 80 ms to decode on an idle core."""
    rng = np.random.default_rng(seed)
    out = []
    for frame in frames:
        image = cv2.resize(decode(frame), size)
        noisy = np.clip(image + rng.normal(0, noise, image.shape), 0, 255).astype(np.uint8)
        out.append(encode(noisy, quality))
    return out
