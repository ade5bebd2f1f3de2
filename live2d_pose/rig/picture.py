"""What the picture shows of each part of the body: how the smoothing stage tells stillness from jitter.

Part of SOLVE (pure). MediaPipe's world landmarks, which the rig's rotations
come from, carry its guess of depth; on a photo held still they wander 5 to
13 degrees (the sitting woman's limbs, p95 over 0.4 s) and spike to 25. Where
the same landmarks fall in the image wanders far less: 1 to 3 degrees for the
same limbs. So whether a part of the body stands still is read from the
picture (stillness.py), and how it is turned from the world landmarks.

A part's picture is a few vectors between landmarks as the image shows them,
in pixels, with the picture's scale (pixels per metre at the body's distance),
so a receiver can measure them in metres: the jitter of a landmark scales with
the person's size in the picture, and so does a limb's movement.
"""

from __future__ import annotations

from typing import NamedTuple

from live2d_pose.rig.limbs import FAINT, SEEN, Landmarks, in_image

Vector = tuple[float, float]

# part -> its vectors, each (from, to), each end the mean of those landmarks: the segment itself and
# the one its rotation also depends on (an upper arm's twist follows the forearm's bend; a knee's angle is
# taken against the thigh). The foot's direction is left out of the thigh's: it barely turns it (limbs.py's
# FOOT_WEIGHT), and MediaPipe's heel and toe jitter more than the knee.
POSE_PICTURE = {
    "torso": (((12,), (11,)), ((23, 24), (11, 12))),
    "hips": (((24,), (23,)), ((23, 24), (11, 12))),
    **{
        f"{side}{part}": vectors
        for side, (s, e, w, h, k, a, heel, toe) in (
            ("left", (11, 13, 15, 23, 25, 27, 29, 31)),
            ("right", (12, 14, 16, 24, 26, 28, 30, 32)),
        )
        for part, vectors in (
            ("UpperArm", (((s,), (e,)), ((e,), (w,)))),
            ("LowerArm", (((e,), (w,)), ((s,), (e,)))),
            ("UpperLeg", (((h,), (k,)), ((k,), (a,)))),
            ("LowerLeg", (((k,), (a,)), ((h,), (k,)))),
            ("Foot", (((heel,), (toe,)), ((k,), (a,)))),
        )
    },
}
POSE_VECTORS = tuple(dict.fromkeys(ends for vectors in POSE_PICTURE.values() for ends in vectors))
# a hand: wrist to the middle finger's knuckle, and across the knuckles (index to little finger)
HAND_PICTURE = (((0,), (9,)), ((5,), (17,)))
# the vectors that run across the body, from the subject's right to their left: in the mirror image the
# sides swap, so such a vector keeps its x and flips its y (the others flip their x)
ACROSS = {"torso": (True, False), "hips": (True, False)}
MIN_FIT_POINTS = 3


class PartPicture(NamedTuple):  # a named tuple: made for every part of every result, quickly
    scale: float  # pixels per metre at the body's distance
    vectors: tuple  # Vector (pixels, y down) per vector of the part; None where an end is out of the picture


def fit_scale(pairs, min_points: int = MIN_FIT_POINTS) -> tuple[float, Vector] | None:
    """Least squares ``image = s * world + origin`` over (image point, world point) pairs, both (x, y)
    with y down: (s, origin), or None when the points are too few or too close together to tell."""
    pairs = list(pairs)
    if len(pairs) < min_points:
        return None
    n = len(pairs)
    # sums of lists, not of generators: the same sums, made faster
    px, py = sum([p[0][0] for p in pairs]) / n, sum([p[0][1] for p in pairs]) / n
    wx, wy = sum([p[1][0] for p in pairs]) / n, sum([p[1][1] for p in pairs]) / n
    spread = sum([(w[0] - wx) ** 2 + (w[1] - wy) ** 2 for _, w in pairs])
    if spread < 1e-4:
        return None
    s = sum([(p[0] - px) * (w[0] - wx) + (p[1] - py) * (w[1] - wy) for p, w in pairs]) / spread
    if s <= 0:
        return None
    return s, (px - s * wx, py - s * wy)


def _vector(points, ok, ends) -> Vector | None:
    a, b = ends
    if not all(ok(i) for i in a + b):
        return None
    mean = lambda idx, k: sum(points[i][k] for i in idx) / len(idx)  # noqa: E731
    return (mean(b, 0) - mean(a, 0), mean(b, 1) - mean(a, 1))


def pose_picture(lm: Landmarks, image_size: tuple[int, int] | None) -> dict[str, PartPicture]:
    """Every pose part's picture; {} when the picture's scale cannot be told."""
    width, height = image_size or (1, 1)
    pixels = [(x * width, y * height) for x, y in lm.image]
    fit = fit_scale((pixels[i], (lm.P[i][0], -lm.P[i][1])) for i in range(len(pixels)) if lm.conf[i] >= SEEN)
    if fit is None:
        return {}
    ok = lambda i: lm.conf[i] >= FAINT  # noqa: E731
    # a vector of several parts (an upper arm's and its forearm's, a thigh's and its shin's) worked out once
    found = {ends: _vector(pixels, ok, ends) for ends in POSE_VECTORS}
    return {part: PartPicture(fit[0], tuple(found[ends] for ends in vectors)) for part, vectors in POSE_PICTURE.items()}


def hand_picture(hand, image_size: tuple[int, int] | None) -> PartPicture | None:
    """A hand's picture, scaled by the hand itself (its world landmarks are metres around it)."""
    width, height = image_size or (1, 1)
    rows, world = hand.landmarks.tolist(), hand.world.tolist()
    pixels = [(r[0] * width, r[1] * height) for r in rows]
    fit = fit_scale((pixels[i], (world[i][0], world[i][1])) for i in range(len(rows)) if in_image(*rows[i][:2]))
    if fit is None:
        return None
    ok = lambda i: in_image(*rows[i][:2])  # noqa: E731
    return PartPicture(fit[0], tuple(_vector(pixels, ok, ends) for ends in HAND_PICTURE))


def mirror_picture(part: str, picture: PartPicture) -> PartPicture:
    """The picture of the same part in the mirror image (whose sides are swapped: mirror_state)."""
    across = ACROSS.get(part, ())
    return PartPicture(
        picture.scale,
        tuple(
            v and ((v[0], -v[1]) if j < len(across) and across[j] else (-v[0], v[1]))
            for j, v in enumerate(picture.vectors)
        ),
    )
