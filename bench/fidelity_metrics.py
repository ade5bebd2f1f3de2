"""The fidelity benchmark's measures and the smoothings it compares against.

Everything runs on recorded timestamps, never on the wall clock, so the same
recordings give the same figures on any machine, run after run.

- lag: how much later than the unfiltered rig the display shows a motion:
  the cross-correlation peak (1 ms grid, means removed, pooled over the inputs
  and a group's channels, refined by a parabola) of what is shown against the
  motion, minus the same for the unfiltered rig drawn by the same display. So
  it is the smoothing's own lag, not the display's or the camera's sampling.
- jitter: the standard deviation of what is shown on the still face (after its
  first second), in the channel's units.
- roughness while moving: RMS of the second difference per display frame
  (units/s^2) over the frames where the unfiltered channel moves faster than
  its median speed.
- blinks: every run of results with eyeBlinkLeft/Right > 0.5 is a closure; it
  is kept when the avatar's eye goes below 0.3 from the run's first result to
  150 ms after its last. A wink (derived inputs) is kept when, in that window,
  the other eye also stays at or above 0.9.

The anchor, KalidoKit's Live2D demo (docs/live2d/script.js in
yeemachine/kalidokit): every display frame it sets each parameter to
``lerp(target, current, keep)``, i.e. moves it (1 - keep) of the way to the
newest result: keep 0.5 for head, body and eyeballs, 0.3 for the mouth, 0.7
for the eyes followed by ``Face.stabilizeBlink``. Brows and the other
parameters the demo does not drive get 0.5 here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Callable, Mapping

import numpy as np

from live2d_pose.bench.fidelity_rigs import RigSpec, hold

CLOSED_SCORE = 0.5  # a blendshape above this is a closed eye
SHOWN_CLOSED = 0.3  # the avatar's eye below this is closed
WINK_OTHER_OPEN = 0.9  # during a wink the other eye stays at or above this
BLINK_GRACE_MS = 150.0
STILL_SETTLE_MS = 1000.0
LAG_RANGE_MS = (-100, 300)
LAG_SMOOTH_MS = 60.0  # sigma of the zero-phase blur before correlating

# KalidoKit's Live2D demo: the fraction of the current value kept each display frame.
KALIDOKIT_KEEP = {"angle": 0.5, "body": 0.5, "eyeBall": 0.5, "eye": 0.7, "mouth": 0.3}
KALIDOKIT_KEEP_OTHER = 0.5

# The page's previous smoothing (git 1669e74): One Euro stepped every display frame
# with the held target, speed from the last *filtered* value, this tuning.
BEFORE_TUNING = {
    "angle": (1.2, 0.03),
    "body": (0.8, 0.05),
    "eye": (3.0, 1.5),
    "eyeBall": (2.0, 0.5),
    "mouth": (2.5, 1.0),
    "brow": (1.5, 0.5),
    "other": (1.5, 0.3),
}


# ------------------------------------------------------------------ measures


def _per_ms(grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A display series held on a 1 ms grid."""
    ms = np.arange(grid[0], grid[-1], 1.0)
    return values[np.searchsorted(grid, ms, side="right") - 1]


def _xcorr(pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Pooled cross-correlation of (reference, signal) pairs on 1 ms grids:
    c[lag] = sum of reference[i] * signal[i + lag] over a fixed window of i (the
    reference less the lag range at each end, so every lag sees the same
    samples: a window that shrank with the lag would pull the peak), means removed."""
    lags = np.arange(LAG_RANGE_MS[0], LAG_RANGE_MS[1] + 1)
    lo, hi = -LAG_RANGE_MS[0], LAG_RANGE_MS[1]
    c = np.zeros(len(lags))
    for r, o in pairs:
        n = len(r)
        if n <= lo + hi + 1:
            continue
        window = np.zeros(n)
        window[lo : n - hi] = r[lo : n - hi] - r[lo : n - hi].mean()
        size = 1 << int(np.ceil(np.log2(2 * n)))
        full = np.fft.irfft(np.conj(np.fft.rfft(window, size)) * np.fft.rfft(o - o.mean(), size), size)
        c += full[lags % size]  # negative lags wrap to the end
    return lags, c


def _peak(lags: np.ndarray, c: np.ndarray) -> float:
    if not np.any(c):
        return math.nan
    k = int(np.argmax(c))
    if 0 < k < len(c) - 1:
        denom = c[k - 1] - 2 * c[k] + c[k + 1]
        if denom < 0:
            return float(lags[k] + 0.5 * (c[k - 1] - c[k + 1]) / denom)
    return float(lags[k])


def _zero_phase(x: np.ndarray, sigma_ms: float = LAG_SMOOTH_MS) -> np.ndarray:
    """A centred Gaussian blur: it removes the tracker's sample-to-sample noise, which would
    otherwise line up at zero lag and pull every estimate down, and shifts nothing."""
    if sigma_ms <= 0:
        return x
    half = int(4 * sigma_ms)
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma_ms) ** 2)
    padded = np.pad(x, half, mode="edge")
    return np.convolve(padded, k / k.sum(), mode="valid")


@dataclass(frozen=True)
class LagPair:
    """One channel of one input at one display rate."""

    t: np.ndarray  # result times
    raw: np.ndarray  # unfiltered rig per result
    grid: np.ndarray  # display frames
    raw_shown: np.ndarray  # the unfiltered rig as the display draws it
    shown: np.ndarray  # the smoothed rig as the display draws it


def lag_ms(pairs: list[LagPair]) -> float:
    """The smoothing's own lag (ms), pooled over pairs.

    Both what is shown and the unfiltered rig as the same display shows it are
    cross-correlated with the motion itself (the results joined by straight
    lines, on a 1 ms grid); the difference of the two peaks is the smoothing's
    lag, free of the display's and the camera's sampling (a held signal
    against a held reference would snap to whole result intervals).
    """
    with_shown, with_raw = [], []
    for p in pairs:
        ms = np.arange(p.grid[0], p.grid[-1], 1.0)
        motion = _zero_phase(np.interp(ms, p.t, p.raw))
        with_shown.append((motion, _zero_phase(_per_ms(p.grid, p.shown))))
        with_raw.append((motion, _zero_phase(_per_ms(p.grid, p.raw_shown))))
    if not pairs:
        return math.nan
    return _peak(*_xcorr(with_shown)) - _peak(*_xcorr(with_raw))


def jitter(grid: np.ndarray, shown: np.ndarray) -> float:
    """SD of a still face's output after it settled."""
    return float(np.std(shown[grid >= grid[0] + STILL_SETTLE_MS]))


def roughness(grid: np.ndarray, shown: np.ndarray, moving: np.ndarray) -> tuple[float, int]:
    """(sum of squared second differences per s^2 over moving frames, their count)."""
    period_s = (grid[1] - grid[0]) / 1000.0
    d2 = (shown[2:] - 2 * shown[1:-1] + shown[:-2]) / period_s**2
    m = moving[1:-1]
    return float(np.sum(d2[m] ** 2)), int(np.sum(m))


def overshoot(
    t: np.ndarray, raw: np.ndarray, grid: np.ndarray, shown: np.ndarray, window_ms: float = 250.0
) -> np.ndarray:
    """Per display frame, how far the shown value lies outside the range of the results of the last
    `window_ms` (0 inside): what drawing ahead of the results invents."""
    out = np.zeros(len(grid))
    for j, now in enumerate(grid):
        recent = raw[(t <= now) & (t >= now - window_ms)]
        if len(recent):
            out[j] = max(shown[j] - recent.max(), recent.min() - shown[j], 0.0)
    return out


def speeds(t: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """|d raw / dt| per result (units/s), central differences."""
    return np.abs(np.gradient(raw, t / 1000.0)) if len(t) > 2 else np.zeros(len(t))


def rms(values) -> float:
    values = [v for v in values if np.isfinite(v)]
    return float(np.sqrt(np.mean(np.square(values)))) if values else math.nan


# ------------------------------------------------------------------ blinks


@dataclass(frozen=True)
class Closure:
    """A run of results where one eye's blendshape is above CLOSED_SCORE."""

    eye: str  # eyeBlinkLeft / eyeBlinkRight (the subject's side)
    start_ms: float
    end_ms: float


def closures(t: np.ndarray, scores: Mapping[str, np.ndarray]) -> list[Closure]:
    out = []
    for eye, s in scores.items():
        closed = s > CLOSED_SCORE
        i = 0
        while i < len(closed):
            if closed[i]:
                j = i
                while j + 1 < len(closed) and closed[j + 1]:
                    j += 1
                out.append(Closure(eye, float(t[i]), float(t[j])))
                i = j + 1
            else:
                i += 1
    return out


def closure_kept(
    c: Closure, grid: np.ndarray, shown: Mapping[str, np.ndarray], eyes: Mapping[str, str], wink: bool = False
) -> bool:
    """`eyes`: one avatar's pair, subject's blendshape -> the channel showing that eye."""
    window = (grid >= c.start_ms) & (grid <= c.end_ms + BLINK_GRACE_MS)
    if not window.any():
        return False
    closes = float(np.min(shown[eyes[c.eye]][window])) < SHOWN_CLOSED
    if not wink:
        return closes
    other = next(ch for eye, ch in eyes.items() if eye != c.eye)
    return closes and float(np.min(shown[other][window])) >= WINK_OTHER_OPEN


# ------------------------------------------------------------------ smoothings to compare with


def kalidokit_demo(
    t: np.ndarray,
    raw: Mapping[str, np.ndarray],
    grid: np.ndarray,
    spec: RigSpec,
    keep: Callable[[str], float] | None = None,
) -> dict[str, np.ndarray]:
    """KalidoKit's Live2D demo smoothing, stepped once per display frame on `grid`."""
    keep = keep or (lambda ch: KALIDOKIT_KEEP.get(spec.kind(ch), KALIDOKIT_KEEP_OTHER))
    targets = {ch: hold(t, v, grid) for ch, v in raw.items()}
    out = {}
    for ch, target in targets.items():
        k = keep(ch)
        y = np.empty(len(grid))
        x = target[0]
        for j, goal in enumerate(target):
            x = goal + k * (x - goal)  # lerp(target, current, keep)
            y[j] = x
        out[ch] = y
    yaw = np.radians(targets["ParamAngleX"]) if "ParamAngleX" in targets else np.zeros(len(grid))
    for pair in spec.eyes:
        # the demo's eyes: stabilizeBlink on the lerped values (headY: yaw in radians)
        left, right = pair.get("eyeBlinkRight"), pair.get("eyeBlinkLeft")  # image left, image right
        if left in out and right in out:
            for j in range(len(grid)):
                out[left][j], out[right][j] = stabilize_blink(out[left][j], out[right][j], yaw[j])
    return out


def stabilize_blink(left: float, right: float, head_y: float, max_rot: float = 0.5) -> tuple[float, float]:
    """KalidoKit's Face.stabilizeBlink (src/FaceSolver/calcEyes.ts), winks enabled."""
    left, right = min(max(left, 0.0), 1.0), min(max(right, 0.0), 1.0)
    if head_y > max_rot:
        return right, right
    if head_y < -max_rot:
        return left, left
    diff = abs(left - right)
    closing = left < 0.3 and right < 0.3
    opened = left > 0.6 and right > 0.6
    if diff >= 0.8 and not closing and not opened:
        return left, right
    both = right + (left - right) * (0.95 if right > left else 0.05)
    return both, both


def previous_page_smoothing(
    t: np.ndarray, raw: Mapping[str, np.ndarray], grid: np.ndarray, spec: RigSpec
) -> dict[str, np.ndarray]:
    """The page's previous smoothing: One Euro per display frame, speed from the filtered value."""
    out = {}
    for ch, v in raw.items():
        min_cutoff, beta = BEFORE_TUNING.get(spec.kind(ch), BEFORE_TUNING["other"])
        target = hold(t, v, grid)
        y = np.empty(len(grid))
        x, dx, last = target[0], 0.0, grid[0]
        y[0] = x
        for j in range(1, len(grid)):
            dt = max((grid[j] - last) / 1000.0, 1e-3)
            last = grid[j]
            dx += _alpha(1.0, dt) * ((target[j] - x) / dt - dx)
            x += _alpha(min_cutoff + beta * abs(dx), dt) * (target[j] - x)
            y[j] = x
        out[ch] = y
    return out


def _alpha(cutoff_hz: float, dt_s: float) -> float:
    return 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff_hz) / dt_s)


def drawn(t: np.ndarray, filtered: np.ndarray, grid: np.ndarray, how: str) -> np.ndarray:
    """Per-result values drawn between results: hold, extrapolate, or interpolate (one result late)."""
    k = np.searchsorted(t, grid, side="right") - 1
    if how == "hold":
        return filtered[k]
    prev = np.maximum(k - 1, 0)
    step = np.where(k > 0, t[k] - t[prev], 1.0)
    slope = np.where(k > 0, (filtered[k] - filtered[prev]) / step, 0.0)
    since = grid - t[k]
    if how == "extrapolate":  # on along the last step, at most one result interval ahead
        return filtered[k] + slope * np.minimum(since, step)
    if how == "interpolate":  # slide from the previous result to the newest over one interval
        return filtered[prev] + (filtered[k] - filtered[prev]) * np.clip(since / step, 0.0, 1.0)
    raise ValueError(f"unknown drawing {how!r}")
