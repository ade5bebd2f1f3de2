// The little quaternion math the retargets need (plain arrays: vectors
// [x, y, z], quaternions [x, y, z, w]; products compose like matrices,
// (a · b) v = a (b v)). Solving motion is the gateway's (live2d_pose/rig/).

export const IDENTITY = Object.freeze([0, 0, 0, 1]);

export const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);

const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];

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

/** v rotated by q: t = 2 (q.xyz × v); v' = v + w t + q.xyz × t. */
export function rotate(q, v) {
  const u = [q[0], q[1], q[2]];
  const c = cross(u, v);
  const t = [2 * c[0], 2 * c[1], 2 * c[2]];
  const d = cross(u, t);
  return [v[0] + q[3] * t[0] + d[0], v[1] + q[3] * t[1] + d[1], v[2] + q[3] * t[2] + d[2]];
}

/** Angle between two rotations, radians (0 .. π). */
export function angleBetween(a, b) {
  const d = Math.abs(a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3]);
  return 2 * Math.acos(Math.min(1, d));
}

/** Rotation by `angle` radians about the unit axis `axis`. */
export function axisAngle(axis, angle) {
  const s = Math.sin(angle / 2);
  return [axis[0] * s, axis[1] * s, axis[2] * s, Math.cos(angle / 2)];
}

/** The way from a toward b, a fraction t of it (normalized lerp, the short way round). */
export function nlerp(a, b, t) {
  const s = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3] < 0 ? -1 : 1;
  const q = a.map((v, i) => v + t * (s * b[i] - v));
  const n = Math.hypot(q[0], q[1], q[2], q[3]) || 1;
  return q.map((v) => v / n);
}
