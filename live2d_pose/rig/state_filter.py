"""One Euro smoothing of the body state: a port of web/src/state-filter.js (docs/rig.md "Smoothing").

Every channel is filtered on every step: one the state lacks (not seen) is
filtered toward its rest value at a fixed slow cutoff, so a lost joint eases
back and a found one eases in; nothing jumps. Quaternions are filtered
component-wise after being flipped into the previous output's hemisphere
(q and -q are the same rotation), then renormalized. The filter is
live2d_pose/rig/filter.py's (the fidelity work's One Euro, the twin of
web/src/filter.js); tests/test_rig_agreement.py feeds both the same states.
"""

from __future__ import annotations

import math
import re

from live2d_pose.rig.filter import TUNING, OneEuroFilter
from live2d_pose.rig.solve import BLENDSHAPE_NAMES, BONES, EXPRESSIONS, BodyState, rest_rotation

# The body's kinds of channel in tuning.json (shared with the page and the face): quaternion
# components move ~1 unit/s in a quick arm swing; expressions are 0..1; the blinks use the eyelids'.
BODY_KINDS = ("torso", "headBone", "arm", "finger", "expression", "gaze", "eye")
BLINKS = ("blinkLeft", "blinkRight")
# A channel that is not seen eases to rest at a fixed, slow cutoff (no speed boost).
REST_EASE = (TUNING["rest"].min_cutoff, TUNING["rest"].beta)
SEEN_KEYS = ("face", "pose", "leftHand", "rightHand")
BLENDSHAPES = tuple(n for n in BLENDSHAPE_NAMES if n != "_neutral")


def bone_kind(name: str) -> str:
    if name in ("neck", "head"):
        return "headBone"
    if name.endswith("Arm") or name.endswith("Hand"):
        return "arm"
    if re.search(r"(Thumb|Index|Middle|Ring|Little)", name):
        return "finger"
    return "torso"


def _step(f: OneEuroFilter, value: float, t_ms: float, resting: bool) -> float:
    if not resting:
        return f(value, t_ms)
    min_cutoff, beta = f.min_cutoff, f.beta
    f.min_cutoff, f.beta = REST_EASE
    try:
        return f(value, t_ms)
    finally:
        f.min_cutoff, f.beta = min_cutoff, beta


class StateFilter:
    """``filter(state, t_ms)`` -> a complete, smoothed state (every bone, expression, gaze).

    Outputs equal state-filter.js's. One shortcut keeps a face-only stream cheap
    (2 of 41 bones seen): a channel that has never been seen sits at its rest
    value, which filtering would not change, so it gets no filter until it is
    first seen; then its filter is primed with the rest value at the previous
    step's time, exactly the history state-filter.js's filter has by then.
    """

    def __init__(self, scale_min_cutoff: float = 1.0, scale_beta: float = 1.0):
        self.scale = (scale_min_cutoff, scale_beta)
        self.filters: dict[str, OneEuroFilter] = {}
        self.quats: dict[str, tuple] = {}
        self.last_t: float | None = None

    def _channel(self, key: str, kind: str, value: float, rest: float, t_ms: float, seen: bool) -> float:
        f = self.filters.get(key)
        if f is None:
            if not seen:
                return rest
            tuning = TUNING[kind]
            f = self.filters[key] = OneEuroFilter(tuning.min_cutoff * self.scale[0], tuning.beta * self.scale[1],
                                                  tuning.d_cutoff)
            if self.last_t is not None:
                f(rest, self.last_t)
        return _step(f, value, t_ms, not seen)

    def filter(self, state: BodyState, t_ms: float) -> BodyState:
        bones = {}
        for name in BONES:
            seen = name in state.bones
            rest = rest_rotation(name)
            if not seen and name not in self.quats:
                bones[name] = rest  # never seen yet: at rest, unfiltered (see the class doc)
                continue
            target = state.bones[name] if seen else rest
            prev = self.quats.get(name, rest if self.last_t is not None else None)
            flip = -1.0 if prev is not None and sum(p * q for p, q in zip(prev, target)) < 0 else 1.0
            kind = bone_kind(name)
            q = [self._channel(f"{name}.{i}", kind, flip * v, r, t_ms, seen)
                 for i, (v, r) in enumerate(zip(target, rest))]
            n = math.sqrt(sum(v * v for v in q)) or 1.0
            bones[name] = self.quats[name] = (q[0] / n, q[1] / n, q[2] / n, q[3] / n)
        expressions = {name: self._channel(f"expr.{name}", "eye" if name in BLINKS else "expression",
                                           state.expressions.get(name, 0.0), 0.0, t_ms, name in state.expressions)
                       for name in EXPRESSIONS}
        bs = state.blendshapes
        blendshapes = {name: self._channel(f"bs.{name}", "expression", bs[name] if bs else 0.0, 0.0, t_ms, bool(bs))
                       for name in BLENDSHAPES}
        gaze = {axis: self._channel(f"gaze.{axis}", "gaze", state.gaze[axis] if state.gaze else 0.0, 0.0, t_ms,
                                    bool(state.gaze)) for axis in ("yaw", "pitch")}
        seen = {key: bool(state.seen.get(key)) for key in SEEN_KEYS}
        self.last_t = t_ms
        return BodyState(t=t_ms, seen=seen, bones=bones, expressions=expressions, gaze=gaze,
                         blendshapes=blendshapes, version=state.version)

    def reset(self) -> None:
        self.filters.clear()
        self.quats.clear()
        self.last_t = None
