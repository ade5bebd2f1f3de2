"""Small vector and quaternion math for the rig.

Vectors are (x, y, z), quaternions (x, y, z, w), as tuples of floats: for
3-vectors plain floats are several times faster than numpy. Products compose
like matrices: multiply(a, b) rotates by b first, then by a.
"""

from __future__ import annotations

import math

Vec = tuple[float, float, float]
Quat = tuple[float, float, float, float]

IDENTITY: Quat = (0.0, 0.0, 0.0, 1.0)
DEG = math.pi / 180


def sub(a, b) -> Vec:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def add(a, b) -> Vec:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def scale(a, s: float) -> Vec:
    return (a[0] * s, a[1] * s, a[2] * s)


def dot(a, b) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def dot4(a, b) -> float:
    """The dot product of two quaternions (as 4-vectors)."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3]


def cross(a, b) -> Vec:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def length(a) -> float:
    return math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])


def mid(a, b) -> Vec:
    return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, (a[2] + b[2]) / 2)


def normalize(a) -> Vec:
    n = length(a)
    return (a[0] / n, a[1] / n, a[2] / n) if n > 0 else (0.0, 0.0, 0.0)


def clamp(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


def smoothstep(e0: float, e1: float, x: float) -> float:
    t = clamp((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def axis_angle(axis, angle: float) -> Quat:
    """Rotation by `angle` radians about the unit axis `axis`."""
    s = math.sin(angle / 2)
    return (axis[0] * s, axis[1] * s, axis[2] * s, math.cos(angle / 2))


def multiply(a, b) -> Quat:
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


def conjugate(q) -> Quat:
    """The inverse of a unit quaternion."""
    return (-q[0], -q[1], -q[2], q[3])


def normalize_quat(q) -> Quat:
    n = math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
    return (q[0] / n, q[1] / n, q[2] / n, q[3] / n) if n > 0 else IDENTITY


def rotate(q, v) -> Vec:
    """v rotated by q: t = 2 (q.xyz x v); v' = v + w t + q.xyz x t."""
    u = (q[0], q[1], q[2])
    t = scale(cross(u, v), 2)
    return add(add(v, scale(t, q[3])), cross(u, t))


def arc(a, b) -> Quat:
    """The shortest rotation taking unit vector a onto unit vector b."""
    d = dot(a, b)
    if d < -1 + 1e-9:  # opposite: half a turn about any axis perpendicular to a
        axis = normalize(cross(a, (0.0, 1.0, 0.0)) if abs(a[0]) > 0.9 else cross(a, (1.0, 0.0, 0.0)))
        return (axis[0], axis[1], axis[2], 0.0)
    c = cross(a, b)
    return normalize_quat((c[0], c[1], c[2], 1 + d))


def half(q) -> Quat:
    """Half of rotation q: same axis, half the angle (slerp from identity at 1/2), the short way."""
    p = (-q[0], -q[1], -q[2], -q[3]) if q[3] < 0 else q
    return normalize_quat((p[0], p[1], p[2], p[3] + 1))


def slerp(a, b, t: float) -> Quat:
    """The rotation a fraction ``t`` of the way from ``a`` to ``b``, the short way."""
    d = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3]
    if d < 0:
        b, d = (-b[0], -b[1], -b[2], -b[3]), -d
    if d > 0.9995:  # nearly the same: a straight line is as good and never divides by ~0
        return normalize_quat(tuple(x + (y - x) * t for x, y in zip(a, b)))
    theta = math.acos(d)
    s = math.sin(theta)
    wa, wb = math.sin((1 - t) * theta) / s, math.sin(t * theta) / s
    return (wa * a[0] + wb * b[0], wa * a[1] + wb * b[1], wa * a[2] + wb * b[2], wa * a[3] + wb * b[3])


def from_basis(c0, c1, c2) -> Quat:
    """The quaternion of the rotation matrix with columns c0, c1, c2 (orthonormal, right-handed)."""
    m00, m10, m20 = c0
    m01, m11, m21 = c1
    m02, m12, m22 = c2
    tr = m00 + m11 + m22
    if tr > 0:
        s = math.sqrt(tr + 1) * 2
        q = ((m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s, s / 4)
    elif m00 > m11 and m00 > m22:
        s = math.sqrt(1 + m00 - m11 - m22) * 2
        q = (s / 4, (m01 + m10) / s, (m02 + m20) / s, (m21 - m12) / s)
    elif m11 > m22:
        s = math.sqrt(1 + m11 - m00 - m22) * 2
        q = ((m01 + m10) / s, s / 4, (m12 + m21) / s, (m02 - m20) / s)
    else:
        s = math.sqrt(1 + m22 - m00 - m11) * 2
        q = ((m02 + m20) / s, (m12 + m21) / s, s / 4, (m10 - m01) / s)
    return normalize_quat(q)


def frame(x, y) -> Quat:
    """docs/rig.md's frame(x, y): columns x^ = norm(x), z^ = norm(x^ × y), y^ = z^ × x^."""
    xh = normalize(x)
    zh = normalize(cross(xh, y))
    yh = cross(zh, xh)
    return from_basis(xh, yh, zh)


def angle_between(a, b) -> float:
    """The angle between two rotations, radians (0 .. pi)."""
    d = abs(a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3])
    return 2 * math.acos(min(1.0, d))


def to_yaw_pitch_roll(q) -> tuple[float, float, float]:
    """Intrinsic Y-X-Z Euler angles of q in degrees: yaw about +Y, then pitch about +X, then roll about +Z."""
    x, y, z, w = q
    m02 = 2 * (x * z + w * y)
    m12 = 2 * (y * z - w * x)
    m22 = 1 - 2 * (x * x + y * y)
    m10 = 2 * (x * y + w * z)
    m11 = 1 - 2 * (x * x + z * z)
    m00 = 1 - 2 * (y * y + z * z)
    m20 = 2 * (x * z - w * y)
    pitch = math.asin(clamp(-m12, -1.0, 1.0))
    if abs(m12) < 0.9999999:
        yaw = math.atan2(m02, m22)
        roll = math.atan2(m10, m11)
    else:
        yaw = math.atan2(-m20, m00)
        roll = 0.0
    return yaw / DEG, pitch / DEG, roll / DEG


def flip_x(q) -> Quat:
    """The rotation seen through a mirror across the YZ plane (x -> -x): (x, -y, -z, w).

    It mirrors a state (docs/rig.md "Mirror") and it moves a rotation between
    a right-handed frame and a left-handed one sharing Y and Z (the rig's
    frame and Unity's).
    """
    return (q[0], -q[1], -q[2], q[3])
