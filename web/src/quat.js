// Small vector and quaternion math for the rig (docs/rig.md). Plain arrays:
// vectors [x, y, z], quaternions [x, y, z, w]; products compose like
// matrices, (a · b) v = a (b v). Pure and allocation-light enough for 60 Hz,
// and small enough to port line by line (live2d_pose/rig/).

export const IDENTITY = Object.freeze([0, 0, 0, 1]);
export const DEG = Math.PI / 180;

export const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
export const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
export const scale = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
export const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
export const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
export const length = (a) => Math.hypot(a[0], a[1], a[2]);
export const mid = (a, b) => [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2, (a[2] + b[2]) / 2];

export function normalize(a) {
  const n = length(a);
  return n > 0 ? [a[0] / n, a[1] / n, a[2] / n] : [0, 0, 0];
}

export const clamp = (v, lo, hi) => (v < lo ? lo : v > hi ? hi : v);

export function smoothstep(e0, e1, x) {
  const t = clamp((x - e0) / (e1 - e0), 0, 1);
  return t * t * (3 - 2 * t);
}

/** Rotation by `angle` radians about unit axis `axis`. */
export function axisAngle(axis, angle) {
  const s = Math.sin(angle / 2);
  return [axis[0] * s, axis[1] * s, axis[2] * s, Math.cos(angle / 2)];
}

export function multiply(a, b) {
  const [ax, ay, az, aw] = a;
  const [bx, by, bz, bw] = b;
  return [
    aw * bx + ax * bw + ay * bz - az * by,
    aw * by - ax * bz + ay * bw + az * bx,
    aw * bz + ax * by - ay * bx + az * bw,
    aw * bw - ax * bx - ay * by - az * bz,
  ];
}

/** Inverse of a unit quaternion. */
export const conjugate = (q) => [-q[0], -q[1], -q[2], q[3]];

export function normalizeQuat(q) {
  const n = Math.hypot(q[0], q[1], q[2], q[3]);
  return n > 0 ? [q[0] / n, q[1] / n, q[2] / n, q[3] / n] : [0, 0, 0, 1];
}

export function rotate(q, v) {
  // v' = q v q*, expanded: t = 2 (q.xyz × v); v' = v + w t + q.xyz × t
  const u = [q[0], q[1], q[2]];
  const t = scale(cross(u, v), 2);
  return add(add(v, scale(t, q[3])), cross(u, t));
}

/** Shortest rotation taking unit vector a onto unit vector b. */
export function arc(a, b) {
  const d = dot(a, b);
  if (d < -1 + 1e-9) {
    // opposite: half a turn about any axis perpendicular to a
    const axis = normalize(Math.abs(a[0]) > 0.9 ? cross(a, [0, 1, 0]) : cross(a, [1, 0, 0]));
    return [axis[0], axis[1], axis[2], 0];
  }
  const c = cross(a, b);
  return normalizeQuat([c[0], c[1], c[2], 1 + d]);
}

/** Half of rotation q: same axis, half the angle (slerp from identity, t = 1/2). */
export function half(q) {
  const p = q[3] < 0 ? [-q[0], -q[1], -q[2], -q[3]] : q; // the short way round
  return normalizeQuat([p[0], p[1], p[2], p[3] + 1]);
}

/** Quaternion of a rotation matrix given by its columns (orthonormal, right-handed). */
export function fromBasis(c0, c1, c2) {
  // m[row][col]: column j is cj
  const m00 = c0[0], m10 = c0[1], m20 = c0[2];
  const m01 = c1[0], m11 = c1[1], m21 = c1[2];
  const m02 = c2[0], m12 = c2[1], m22 = c2[2];
  const tr = m00 + m11 + m22;
  let q;
  if (tr > 0) {
    const s = Math.sqrt(tr + 1) * 2;
    q = [(m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s, s / 4];
  } else if (m00 > m11 && m00 > m22) {
    const s = Math.sqrt(1 + m00 - m11 - m22) * 2;
    q = [s / 4, (m01 + m10) / s, (m02 + m20) / s, (m21 - m12) / s];
  } else if (m11 > m22) {
    const s = Math.sqrt(1 + m11 - m00 - m22) * 2;
    q = [(m01 + m10) / s, s / 4, (m12 + m21) / s, (m02 - m20) / s];
  } else {
    const s = Math.sqrt(1 + m22 - m00 - m11) * 2;
    q = [(m02 + m20) / s, (m12 + m21) / s, s / 4, (m10 - m01) / s];
  }
  return normalizeQuat(q);
}

/**
 * frame(x, y) of docs/rig.md: the rotation whose columns are x̂, ŷ, ẑ with
 * x̂ = norm(x), ẑ = norm(x̂ × y), ŷ = ẑ × x̂. Identity for x = +X, y = +Y.
 */
export function frame(x, y) {
  const xh = normalize(x);
  const zh = normalize(cross(xh, y));
  const yh = cross(zh, xh);
  return fromBasis(xh, yh, zh);
}

/** Angle between two rotations, radians (0 .. π). */
export function angleBetween(a, b) {
  const d = Math.abs(a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3]);
  return 2 * Math.acos(Math.min(1, d));
}

/**
 * Intrinsic Y-X-Z Euler angles (three.js order "YXZ") of q, in degrees:
 * yaw about +Y, then pitch about +X, then roll about +Z.
 */
export function toYawPitchRoll(q) {
  const [x, y, z, w] = q;
  // rotation matrix entries needed for YXZ
  const m02 = 2 * (x * z + w * y);
  const m12 = 2 * (y * z - w * x);
  const m22 = 1 - 2 * (x * x + y * y);
  const m10 = 2 * (x * y + w * z);
  const m11 = 1 - 2 * (x * x + z * z);
  const m00 = 1 - 2 * (y * y + z * z);
  const m20 = 2 * (x * z - w * y);
  const pitch = Math.asin(clamp(-m12, -1, 1));
  let yaw, roll;
  if (Math.abs(m12) < 0.9999999) {
    yaw = Math.atan2(m02, m22);
    roll = Math.atan2(m10, m11);
  } else {
    yaw = Math.atan2(-m20, m00);
    roll = 0;
  }
  return { yaw: yaw / DEG, pitch: pitch / DEG, roll: roll / DEG };
}
