"""Where the body stands: the hips' position in metres (docs/rig.md "Hips position").

Two halves, like the rest of the rig:

- ``observe`` belongs to SOLVE (pure): from one pose result, where the hips
  are relative to the camera. MediaPipe's world landmarks are metres around
  the hips; its image landmarks are where those points fall in the picture.
  A least-squares fit of one to the other (weak perspective: the body's depth
  is small beside its distance) gives the picture's scale in pixels per metre
  and where the hips' centre falls in it. Sideways and vertical offsets follow
  from the scale alone; the distance needs the camera's focal length, which
  nothing here knows: a camera whose longer side spans FOV_DEG is assumed, so
  walking toward the camera is right in direction and roughly in size.
- ``Grounding`` belongs to the smoothing stage (one per stream, stateful):
  it turns those camera-relative positions into a position in the room, with
  the floor at y = 0, the first place the person stood at x = z = 0, and feet
  that stand still kept where they were put down.

The room's frame is the rig's (docs/rig.md "Conventions"): +Y up, +Z toward
the camera, +X the subject's left when they face it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from live2d_pose.rig.contract import REST_HIPS_POSITION
from live2d_pose.rig.limbs import LEGS, SEEN, Landmarks, midfoot
from live2d_pose.rig.picture import fit_scale

FOV_DEG = 60.0  # the assumed camera's field of view across the image's longer side
FIT_POINTS = tuple(range(11, 33))  # shoulders to toes: the face's points are small beside the body
MIN_FIT_POINTS = 4
# Standing, the hips' centre is this high above the middle of the feet in MediaPipe's world landmarks
# (their average adult; sports2d_demo.mp4, straight legs: 0.79-0.84 m). The rest value of the position's y
# (contract.json's restHipsPosition, which the page reads too).
REST_HIPS_HEIGHT = REST_HIPS_POSITION[1]

# A foot is down when it moves slower than this (m/s, in the picture's plane, over SPEED_WINDOW_MS) ...
CONTACT_SPEED = 0.6  # MediaPipe's foot that stands still moves 0.2-1 m/s; one that swings, 2-5 m/s
RELEASE_SPEED = 1.2
SPEED_WINDOW_MS = 100.0  # one frame's step is mostly MediaPipe's jitter; a tenth of a second is motion
# ... and is near the floor, or has stood still this long (standing on something: a step, a box).
CONTACT_HEIGHT = 0.10
STILL_FOR_MS = 400.0
FLOOR_TAU_MS = 300.0  # the floor follows the feet that are down
SETTLE_TAU_MS = 100.0  # landing, the feet take hold of the body this fast (it does not snap); then exactly
DRIFT_TAU_MS = 1500.0  # with no foot down (a jump), the body returns to what the camera says (but its depth)
MAX_SPEED = 6.0  # m/s: a faster jump of the camera's estimate is MediaPipe's glitch (a tree trunk), not a person
# Depth is what the camera tells worst: from the picture's scale, which jitters a few per cent (the man
# jumping on the box: +-0.7 m at 6 m, 4.6 m/s p95 of pure noise). Its estimate is smoothed this much; it
# only moves the body while no foot is down, and then from where the feet last held it (the correction's
# depth does not fade in the air). A foot's depth below the hips (world landmarks) is smoothed too.
DEPTH_TAU_MS = 1000.0
FOOT_DEPTH_TAU_MS = 300.0
REANCHOR_AFTER_MS = 2000.0  # a body unseen this long starts again where it is found
# MediaPipe's first results of a body it has just found are rough (the man on the box: 2 m off in depth,
# his feet above his hips): for this long the room's origin and floor follow the body, which is not yet
# placed (no position).
FIND_MS = 500.0


@dataclass(frozen=True)
class Root:
    """Where one pose result puts the body (metres, the rig's axes)."""

    hips: tuple  # the hips' centre relative to the camera (x, y in the picture's plane; z: -distance)
    feet: dict  # side -> the middle of that foot relative to the hips (world landmarks); seen feet only
    soles: dict  # side -> that point where the picture shows it: (x, y) in metres at the body's distance


def observe(pose, image_size: tuple[int, int] | None, landmarks: Landmarks | None = None) -> Root | None:
    """The hips relative to the camera, from one pose result and the image's (width, height);
    ``landmarks``: that result's, when the caller has them already."""
    if image_size is None or pose is None:
        return None
    lm = landmarks or Landmarks(pose)
    if lm.c(23, 24) < SEEN:
        return None
    width, height = image_size
    fit = fit_scale(
        (
            ((lm.image[i][0] * width, lm.image[i][1] * height), (lm.P[i][0], -lm.P[i][1]))
            for i in FIT_POINTS
            if lm.conf[i] >= SEEN
        ),
        MIN_FIT_POINTS,
    )
    if fit is None:
        return None
    s, origin = fit  # pixels per metre; where the world's origin, the hips' centre, falls in the picture
    focal = max(width, height) / (2 * math.tan(math.radians(FOV_DEG) / 2))
    hips = ((origin[0] - width / 2) / s, -(origin[1] - height / 2) / s, -focal / s)
    found = {side: m for side in LEGS if (m := midfoot(lm, side)) is not None}
    feet = {side: world for side, (world, _) in found.items()}
    soles = {
        side: ((image[0] * width - width / 2) / s, -(image[1] * height - height / 2) / s)
        for side, (_, image) in found.items()
    }
    return Root(hips, feet, soles)


def _alpha(dt_ms: float, tau_ms: float) -> float:
    return 1.0 - math.exp(-max(dt_ms, 0.0) / tau_ms)


@dataclass
class _Foot:
    down: bool = False
    still_since: float | None = None
    lock: tuple | None = None  # where it was put down, in the room (y = 0: the floor)
    locked_at: float | None = None
    track: tuple = ()  # its last (t, (x, y)) in the picture's plane, SPEED_WINDOW_MS of them
    depth: float | None = None  # its depth relative to the hips (world landmarks), smoothed

    def speed(self, t_ms: float, sole: tuple) -> float:
        """Its speed over the last SPEED_WINDOW_MS (inf until it has been seen that long)."""
        self.track = tuple((ts, p) for ts, p in self.track if t_ms - ts <= SPEED_WINDOW_MS) + ((t_ms, sole),)
        (t0, p0) = self.track[0]
        if t_ms - t0 < SPEED_WINDOW_MS / 2:
            return math.inf
        return math.dist(p0, sole) / ((t_ms - t0) / 1000.0)


@dataclass
class _Snapshot:
    t: float | None
    found_at: float | None
    seen_at: float | None
    anchor: tuple | None
    hips: tuple | None
    floor: float | None
    correction: tuple
    grip: float
    feet: dict


class Grounding:
    """Root observations -> the hips' position in the room. One per stream.

    Each step: the camera's estimate, relative to where the person was first
    seen (x, z) and to the floor (y), plus a correction. While a foot is down
    the correction keeps it exactly where it was put down (the body moves
    over it): of two feet down, the one down longer (the other, put down
    later, is placed where it is until it takes over). With both feet off the
    ground the correction fades and the camera's estimate takes over again (a
    jump rises and lands), but for depth: the camera's depth, smoothed over
    DEPTH_TAU_MS, moves the body from where the feet last held it. Landing,
    the feet take hold over SETTLE_TAU_MS. The floor is where the feet rest;
    before a foot is seen, the hips stand at REST_HIPS_HEIGHT.

    A second step at the same time as the last replaces it (docs/rig.md
    "Smoothing"); an older one changes nothing.
    """

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.t: float | None = None
        self.found_at: float | None = None
        self.seen_at: float | None = None
        self.anchor: tuple | None = None  # the camera-frame hips where the room's origin is
        self.hips: tuple | None = None  # the camera's estimate of the hips, glitches held back
        self.floor: float | None = None  # the floor's height in the camera's frame
        self.correction = (0.0, 0.0, 0.0)
        self.grip = 0.0  # how firmly the feet down hold the body: 0 in the air, 1 standing
        self.feet = {side: _Foot() for side in LEGS}
        self.position: tuple | None = None
        self._before: _Snapshot | None = None

    def step(self, root: Root | None, t_ms: float) -> tuple | None:
        """The hips' position (x, y, z) in metres, or None when the body is not seen (or only just found)."""
        if self.t is not None and t_ms < self.t:
            return self.position
        if self.t is not None and t_ms == self.t and self._before is not None:
            self._restore(self._before)  # the same instant again: this observation replaces the last
        else:
            self._before = self._snapshot()
        dt = 0.0 if self.t is None else t_ms - self.t
        self.t = t_ms
        if root is None:
            if self.seen_at is not None and t_ms - self.seen_at > REANCHOR_AFTER_MS:
                before = self._before
                self.reset()
                self.t, self._before = t_ms, before
            self.position = None
            return None
        self.seen_at = t_ms
        if self.found_at is None:
            self.found_at = t_ms
        finding = t_ms - self.found_at < FIND_MS
        if self.hips is None or finding:
            self.hips = root.hips
        else:
            x, y, z = _step_toward(self.hips, root.hips, MAX_SPEED * dt / 1000.0)
            self.hips = (x, y, self.hips[2] + (z - self.hips[2]) * _alpha(dt, DEPTH_TAU_MS))
        if self.anchor is None or finding:
            self.anchor = self.hips
            self.floor = min((sole[1] for sole in root.soles.values()), default=None)
        self._feet(root, dt, t_ms)
        raw = self._camera_estimate()
        self.correction = self._correct(raw, root, dt)
        self.position = tuple(r + c for r, c in zip(raw, self.correction))
        self._place_feet(root, t_ms)
        return None if finding else self.position

    def _camera_estimate(self) -> tuple:
        x, y, z = (h - a for h, a in zip(self.hips, self.anchor))
        height = self.hips[1] - self.floor if self.floor is not None else REST_HIPS_HEIGHT + y
        return (x, height, z)

    def _feet(self, root: Root, dt: float, t_ms: float) -> None:
        """Which feet are down, and where the floor is (the picture's plane, the camera's frame)."""
        if self.floor is None and root.soles:
            self.floor = min(sole[1] for sole in root.soles.values())
        for side, foot in self.feet.items():
            sole = root.soles.get(side)
            if sole is None:
                self.feet[side] = _Foot()
                continue
            z = root.feet[side][2]
            foot.depth = z if foot.depth is None else foot.depth + (z - foot.depth) * _alpha(dt, FOOT_DEPTH_TAU_MS)
            slow = foot.speed(t_ms, sole) < (RELEASE_SPEED if foot.down else CONTACT_SPEED)
            if not slow:
                foot.still_since = None
            elif foot.still_since is None:
                foot.still_since = t_ms
            near = sole[1] - self.floor < CONTACT_HEIGHT
            stood = foot.still_since is not None and t_ms - foot.still_since >= STILL_FOR_MS
            foot.down = slow and (near or stood or foot.down)
            if not foot.down:
                foot.lock = foot.locked_at = None
        down = [root.soles[side][1] for side, foot in self.feet.items() if foot.down]
        if down:
            self.floor += (min(down) - self.floor) * _alpha(dt, FLOOR_TAU_MS)

    def _correct(self, raw: tuple, root: Root, dt: float) -> tuple:
        """The correction that keeps the foot down longest where it was put down."""
        locked = [(foot.locked_at, side) for side, foot in self.feet.items() if foot.lock is not None]
        if not locked:
            self.grip = 0.0
            keep = 1.0 - _alpha(dt, DRIFT_TAU_MS)
            x, y, z = self.correction
            return (x * keep, y * keep, z)  # the camera's height and sideways estimates take over, not its depth
        side = min(locked)[1]
        goal = tuple(lock - offset - r for lock, offset, r in zip(self.feet[side].lock, self._offset(root, side), raw))
        self.grip += (1.0 - self.grip) * _alpha(dt, SETTLE_TAU_MS)
        a = 1.0 if self.grip > 0.99 else _alpha(dt, SETTLE_TAU_MS)  # taking hold, then holding exactly
        return tuple(c + (g - c) * a for c, g in zip(self.correction, goal))

    def _place_feet(self, root: Root, t_ms: float) -> None:
        """A foot just put down is locked where the body now puts it, on the floor; a foot down beside
        the one that holds the body follows the body until it holds it."""
        holder = min(((f.locked_at, s) for s, f in self.feet.items() if f.lock is not None), default=(None, None))[1]
        for side, foot in self.feet.items():
            if not foot.down or side == holder:
                continue
            offset = self._offset(root, side)
            foot.lock = (self.position[0] + offset[0], 0.0, self.position[2] + offset[2])
            if foot.locked_at is None:
                foot.locked_at = t_ms

    def _offset(self, root: Root, side: str) -> tuple:
        """Where that foot is below the hips, its depth smoothed."""
        x, y, _ = root.feet[side]
        return (x, y, self.feet[side].depth)

    def _snapshot(self) -> _Snapshot:
        return _Snapshot(
            self.t,
            self.found_at,
            self.seen_at,
            self.anchor,
            self.hips,
            self.floor,
            self.correction,
            self.grip,
            {s: replace(f) for s, f in self.feet.items()},
        )

    def _restore(self, s: _Snapshot) -> None:
        self.t, self.found_at, self.seen_at, self.anchor = s.t, s.found_at, s.seen_at, s.anchor
        self.hips, self.floor = s.hips, s.floor
        self.correction, self.grip = s.correction, s.grip
        self.feet = {side: replace(f) for side, f in s.feet.items()}


def _step_toward(a: tuple, b: tuple, most: float) -> tuple:
    """``b``, or the point ``most`` from ``a`` toward it when it is farther."""
    d = math.dist(a, b)
    if d <= most or d == 0.0:
        return b
    return tuple(x + (y - x) * most / d for x, y in zip(a, b))
