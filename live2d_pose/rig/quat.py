"""Quaternions as numpy arrays (x, y, z, w), the order Unity and three.js print them in.

Only what the rig needs: from a rotation matrix, products, the shortest arc
between two directions, and the mirror that turns a rotation in a
right-handed frame into the same-looking rotation in Unity's left-handed one.
"""

from __future__ import annotations

import numpy as np

IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])


def normalize(v: np.ndarray) -> np.ndarray:
    n = norm(v)
    return v / n if n > 1e-12 else v


def norm(v: np.ndarray) -> float:
    return float(np.sqrt(np.dot(v, v)))


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """3-vector cross product (np.cross handles any shape and costs ten times more)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * b: rotate by b first, then by a."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw,
                     aw * bw - ax * bx - ay * by - az * bz])


def conjugate(q: np.ndarray) -> np.ndarray:
    return np.array([-q[0], -q[1], -q[2], q[3]])


def rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The vector v rotated by the unit quaternion q."""
    u, w = q[:3], q[3]
    return v + 2.0 * cross(u, cross(u, v) + w * v)


def from_matrix(m: np.ndarray) -> np.ndarray:
    """Unit quaternion of a 3x3 rotation matrix (Shepperd's method: stable near 180 degrees)."""
    m = np.asarray(m, dtype=float)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    q = normalize(np.array(q))
    return q if q[3] >= 0 else -q


def to_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def from_axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = normalize(np.asarray(axis, dtype=float))
    return np.append(axis * np.sin(angle / 2.0), np.cos(angle / 2.0))


def from_to(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The shortest rotation that turns direction a into direction b."""
    a, b = normalize(np.asarray(a, float)), normalize(np.asarray(b, float))
    d = float(np.dot(a, b))
    if d < -0.999999:  # opposite: any perpendicular axis will do
        axis = cross(np.array([1.0, 0.0, 0.0]), a)
        if norm(axis) < 1e-6:
            axis = cross(np.array([0.0, 1.0, 0.0]), a)
        return from_axis_angle(axis, np.pi)
    return normalize(np.append(cross(a, b), 1.0 + d))


def from_basis(x_axis: np.ndarray, y_axis: np.ndarray) -> np.ndarray:
    """The rotation taking the unit X and Y axes onto x_axis and (y_axis made orthogonal to it)."""
    x = normalize(np.asarray(x_axis, float))
    y = normalize(np.asarray(y_axis, float) - np.dot(y_axis, x) * x)
    return from_matrix(np.column_stack([x, y, cross(x, y)]))


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    d = float(np.dot(a, b))
    if d < 0:
        b, d = -b, -d
    if d > 0.9995:
        return normalize(a + t * (b - a))
    theta = np.arccos(d)
    return (np.sin((1 - t) * theta) * a + np.sin(t * theta) * b) / np.sin(theta)


def flip_x(q: np.ndarray) -> np.ndarray:
    """The rotation seen through a mirror across the YZ plane (x -> -x): (x, -y, -z, w).

    Use it to move a rotation between a right-handed frame and a left-handed
    one that share Y and Z, e.g. three.js and Unity.
    """
    return np.array([q[0], -q[1], -q[2], q[3]])


def angle_between(a: np.ndarray, b: np.ndarray) -> float:
    """Degrees between two orientations (0..180)."""
    d = min(1.0, abs(float(np.dot(normalize(a), normalize(b)))))
    return float(np.degrees(2.0 * np.arccos(d)))
