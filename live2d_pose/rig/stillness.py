"""A part of the body that stands still is held still: the smoothing stage's stillness lock.

MediaPipe's world landmarks wander on a person who does not move: on a photo
held still at 15 fps, an arm's rotation steps 8 to 13 degrees between
readings 0.4 s apart (p95), a leg's spikes to 33, and the noise is slow (its
power sits where slow movements are), so no low-pass filter removes it
without lagging real movement as much. Where the landmarks fall in the image
wanders far less (picture.py). So a part is held while its picture stays put:

- **Still.** Over the last ``window_ms`` (at least 0.8 of it spanned, the
  part fully followed), each vector of the part's picture (in metres at the
  body's distance, the picture's scale smoothed over ``scale_ms``) stays
  within ``jitter`` times its own frame-to-frame jitter of its median, or
  within ``still_m``, for 80 % of the results; and the part's rotations stay
  within ``still_deg`` (p80) of their mean. The part is then held at that
  mean (of the window, not the last noisy result), unless its last results
  already lie outside the band below: a movement that has just begun. A
  part may have settings of its own (``parts``): a foot's ``still_m`` is
  wider, for MediaPipe places the heel and toe least surely of all.
- **Moving again.** A held part is released when the median of its last
  ``release_samples`` pictures leaves the band of a vector: ``margin``
  times the spread that vector showed while still (p90), at least
  ``band_m`` (a single-result spike never releases it); or when the medoid
  rotation of those results is ``leave_deg`` from the held one (a movement
  in depth, which the picture hardly shows). Released, it follows the One
  Euro filters again, and may be held anew at once at the new window's mean.
- **No jumps.** Each output is an offset times its target (the held
  rotation, or the filtered one). When the target changes, the offset takes
  the output from where it was; while moving it decays (``ease_ms``: no lag
  once it is gone), while held it closes at ``glide_dps`` at most, so a part
  coming to rest, or held anew a little aside, settles without a step.

One PartLock per part and stream, stepped at its tracker's result times: a
second step at the same time replaces the last (docs/rig.md "Smoothing"), an
older one changes nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from live2d_pose.rig.picture import PartPicture
from live2d_pose.rig.quat import IDENTITY, angle_between, conjugate, multiply, normalize_quat, slerp

DEG = math.pi / 180
RAYLEIGH_MEDIAN = 1.665  # median of |a 2D step| over the noise's sigma per axis, for white noise (sqrt(2 ln 2) sqrt 2)
COVERED = 0.8  # share of the window the results must span, and share of them a vector must be in
SPREAD_SHARE = 0.8  # the still test's percentile of distances from the median
BAND_SHARE = 0.9  # and the band's


@dataclass(frozen=True)
class StillTuning:
    """tuning.json's "stillness" section (the names there in camelCase)."""

    window_ms: float = 800.0
    jitter: float = 3.0
    still_m: float = 0.02
    band_m: float = 0.02
    margin: float = 2.5
    release_samples: int = 3
    still_deg: float = 12.0
    leave_deg: float = 20.0
    ease_ms: float = 50.0
    glide_dps: float = 1.5
    scale_ms: float = 1000.0
    # (a regular expression on part names, {field: value}): the first whose pattern matches a part
    # overrides those settings for it (the feet, whose landmarks MediaPipe places least surely)
    parts: tuple = ()

    @classmethod
    def from_json(cls, data: dict) -> StillTuning:
        return cls(**_settings(cls, data), parts=tuple(_part(cls, p) for p in data.get("parts", ())))

    def for_part(self, part: str) -> StillTuning:
        """The settings of one part: these, with the first matching ``parts`` entry's overrides."""
        for match, overrides in self.parts:
            if re.search(match, part):
                return replace(self, **dict(overrides))
        return self


def _part(cls, data: dict) -> tuple:
    """One entry of the section's "parts": (its pattern, its overrides); a name it does not know, or
    a pattern that is not one, is an error here rather than a setting silently ignored."""
    re.compile(data["match"])
    overrides = _settings(cls, data)
    known = {_camel(name) for name in overrides}
    unknown = sorted(k for k in data if k != "match" and not k.startswith("_") and k not in known)
    if unknown:
        raise ValueError(f"stillness part {data['match']!r}: unknown settings {unknown}")
    return data["match"], tuple(overrides.items())


def _camel(name: str) -> str:
    return name.split("_")[0] + "".join(w.title() for w in name.split("_")[1:])


def _settings(cls, data: dict) -> dict:
    """The settings a section of tuning.json names (camelCase there), each of its field's type."""
    return {
        name: type(getattr(cls, name))(data[_camel(name)])
        for name in cls.__dataclass_fields__
        if name != "parts" and _camel(name) in data
    }


@dataclass(frozen=True)
class _Sample:
    t: float
    vectors: tuple  # metres, None where not in the picture
    rotations: dict  # bone -> the part's raw rotation


@dataclass
class _Lock:
    t: float | None = None
    scale: float | None = None  # the picture's scale, smoothed
    samples: tuple = ()
    holding: bool = False
    held: dict = field(default_factory=dict)  # bone -> the rotation held
    reference: tuple = ()  # per vector: its median while still (None: not in the test)
    band: tuple = ()  # per vector: how far it may go before the part moves again
    decay: float = 0.0  # how much of an easing offset is left after this step, moving
    glide: float = 0.0  # how far (radians) an easing offset closes this step, holding
    changed: bool = False  # the target changed this step (held, released, or held anew)
    stale: bool = False  # this step was older than the last: it changed nothing
    offsets: dict = field(default_factory=dict)  # bone -> the easing offset still applied
    out: dict = field(default_factory=dict)  # bone -> the last output


def _median(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def _share(values: list[float], share: float) -> float:
    v = sorted(values)
    return v[int(share * (len(v) - 1))]


def mean_rotation(rotations: list) -> tuple:
    """The normalized sum of the rotations, each in the first one's hemisphere (q and -q are one rotation)."""
    first = rotations[0]
    total = [0.0, 0.0, 0.0, 0.0]
    for q in rotations:
        sign = -1.0 if sum(a * b for a, b in zip(q, first)) < 0 else 1.0
        for k in range(4):
            total[k] += sign * q[k]
    return normalize_quat(tuple(total))


def _toward_identity(q: tuple, most: float) -> tuple:
    """``q`` turned at most ``most`` radians back toward no rotation."""
    angle = angle_between(q, IDENTITY)
    return IDENTITY if angle <= most else slerp(IDENTITY, q, 1.0 - most / angle)


def _medoid(rotations: list) -> tuple:
    """The rotation nearest to all the others (the first such): each angle between two is taken once."""
    n = len(rotations)
    angles = [[0.0] * n for _ in range(n)]
    for i, a in enumerate(rotations):
        for j in range(i, n):
            angles[i][j] = angles[j][i] = angle_between(a, rotations[j])
    totals = [sum(row) for row in angles]
    return rotations[totals.index(min(totals))]


class PartLock:
    """``step(t, weight, picture, rotations)`` once per result of the part's tracker, then
    ``output(bone, filtered)`` per bone: the held rotation while the part stands still, else the
    filtered one, eased across each change."""

    def __init__(self, tuning: StillTuning):
        self.tuning = tuning
        self.now = _Lock()
        self.before: _Lock | None = None

    @property
    def holding(self) -> bool:
        return self.now.holding

    def step(self, t: float, weight: float, picture: PartPicture | None, rotations: dict) -> None:
        """``weight``: the part's presence weight (held only at 1); ``rotations``: its bones' raw rotations."""
        last = self.now
        if last.t is not None and t < last.t:
            self.now = replace(last, stale=True)
            return
        if last.t is not None and t == last.t and self.before is not None:
            last = self.before  # the same instant again: this step replaces the last
        else:
            self.before = last  # never changed after this: each step makes a new _Lock
        self.now = self._advance(last, t, weight, picture, rotations)

    def output(self, bone: str, filtered: tuple) -> tuple:
        lock = self.now
        if lock.stale:
            return lock.out.get(bone, filtered)
        target = lock.held.get(bone, filtered) if lock.holding else filtered
        previous = lock.out.get(bone)
        if previous is None:
            offset = IDENTITY
        elif lock.changed:
            offset = multiply(previous, conjugate(target))  # from where the avatar is
        else:
            offset = lock.offsets.get(bone, IDENTITY)
        offset = _toward_identity(offset, lock.glide) if lock.holding else slerp(IDENTITY, offset, lock.decay)
        out = multiply(offset, target)
        lock.offsets[bone] = offset
        lock.out[bone] = out
        return out

    def _advance(self, last: _Lock, t: float, weight: float, picture: PartPicture | None, rotations: dict) -> _Lock:
        tune = self.tuning
        dt = 0.0 if last.t is None else t - last.t
        lock = replace(
            last,
            t=t,
            stale=False,
            changed=False,
            offsets=dict(last.offsets),
            out=dict(last.out),
            decay=math.exp(-dt / tune.ease_ms) if tune.ease_ms > 0 else 0.0,
            glide=tune.glide_dps * DEG * dt / 1000.0,
        )
        if weight < 1.0 or picture is None or not rotations:
            lock.samples, lock.scale = (), None
            lock.changed, lock.holding, lock.held = lock.holding, False, {}
            return lock
        lock.scale = (
            picture.scale
            if lock.scale is None
            else (lock.scale + (picture.scale - lock.scale) * (1.0 - math.exp(-dt / tune.scale_ms)))
        )
        vectors = tuple(v and (v[0] / lock.scale, v[1] / lock.scale) for v in picture.vectors)
        lock.samples = tuple(s for s in last.samples if t - s.t <= tune.window_ms) + (
            _Sample(t, vectors, dict(rotations)),
        )
        if lock.holding and self._moved(lock):
            lock.holding, lock.held, lock.changed = False, {}, True
        if not lock.holding and self._still(lock):
            lock.holding, lock.changed = True, True
        return lock

    def _still(self, lock: _Lock) -> bool:
        """Whether the window shows the part standing still; if so, sets what it is held at and by."""
        tune, samples = self.tuning, lock.samples
        if samples[-1].t - samples[0].t < COVERED * tune.window_ms:
            return False
        reference, band = [], []
        for j, latest in enumerate(samples[-1].vectors):
            seen = [s.vectors[j] for s in samples if s.vectors[j] is not None]
            if latest is None or len(seen) < max(2, COVERED * len(samples)):
                reference.append(None)
                band.append(None)
                continue
            middle = (_median([v[0] for v in seen]), _median([v[1] for v in seen]))
            distance = [math.dist(v, middle) for v in seen]
            jitter = _median([math.dist(a, b) for a, b in zip(seen, seen[1:])]) / RAYLEIGH_MEDIAN
            if _share(distance, SPREAD_SHARE) > max(tune.still_m, tune.jitter * jitter):
                return False
            reference.append(middle)
            band.append(max(tune.band_m, tune.margin * _share(distance, BAND_SHARE)))
        if all(r is None for r in reference):
            return False
        held = {}
        for bone in samples[-1].rotations:
            rotations = [s.rotations[bone] for s in samples if bone in s.rotations]
            mean = mean_rotation(rotations)
            if _share([angle_between(q, mean) for q in rotations], SPREAD_SHARE) > tune.still_deg * DEG:
                return False
            held[bone] = mean
        held_now = _Lock(samples=lock.samples, held=held, reference=tuple(reference), band=tuple(band))
        if self._moved(held_now):  # its last results already lie outside: it has only just started moving
            return False
        lock.held, lock.reference, lock.band = held, held_now.reference, held_now.band
        return True

    def _moved(self, lock: _Lock) -> bool:
        tune = self.tuning
        recent = lock.samples[-tune.release_samples :]
        for bone, held in lock.held.items():
            rotations = [s.rotations[bone] for s in recent if bone in s.rotations]
            if rotations and angle_between(_medoid(rotations), held) > tune.leave_deg * DEG:
                return True
        for j, (middle, band) in enumerate(zip(lock.reference, lock.band)):
            seen = [s.vectors[j] for s in recent if s.vectors[j] is not None]
            if middle is not None and len(seen) == len(recent) and _median([math.dist(v, middle) for v in seen]) > band:
                return True
        return False

    def reset(self) -> None:
        self.now = _Lock()
        self.before = None
