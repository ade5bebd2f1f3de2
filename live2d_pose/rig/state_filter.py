"""The smoothing stage of the body state (docs/rig.md "Confidence", "Hips position", "Smoothing").

One StateFilter per stream. First presence.py decides, with hysteresis, which
parts of the body the avatar follows and blends the others to rest, and
ground.py turns SOLVE's view of where the body is into the hips' position in
the room, keeping feet that stand still in place. Then, part by part, a
parent's before its children's: the head and hands are re-expressed against
the avatar's own chest and forearms (their parents' jitter then does not
shake them), each channel goes through One Euro smoothing, and a part whose
picture stands still is held still (stillness.py):

Every channel is filtered on every step: one the state lacks (not seen) is
filtered toward its rest value at a fixed slow cutoff, so a lost joint eases
back and a found one eases in; nothing jumps. Quaternions are filtered
component-wise after being flipped into the previous output's hemisphere
(q and -q are the same rotation), then renormalized. The filter is
live2d_pose/rig/filter.py's (the fidelity work's One Euro).

Each channel is sampled at the time of the tracker result it comes from
(``state.times``; ``bone_tracker``), not at the newest message's: the pipeline
sends each tracker's result of a frame in its own message, and a slow
tracker's may come after the next frame's face. A sample at a channel's last
time replaces its last sample (filter.py), so when the pose of a frame arrives
after that frame's face or hands (the head is relative to its chest, a hand to
its forearm), it counts at once.
"""

from __future__ import annotations

import math
from functools import partial
import re
from dataclasses import dataclass
from typing import TypeVar
from collections.abc import Callable

from live2d_pose.rig.filter import STILL_TUNING, TUNING, OneEuroFilter
from live2d_pose.rig.ground import Grounding
from live2d_pose.rig.presence import Presence
from live2d_pose.rig.quat import IDENTITY, conjugate, dot4, half, multiply, slerp, smoothstep
from live2d_pose.rig.solve import (
    BLENDSHAPE_NAMES,
    BONES,
    EXPRESSIONS,
    PARTS,
    REST_POSITION,
    TRACKERS,
    BodyState,
    rest_rotation,
)
from live2d_pose.rig.stillness import PartLock, StillTuning

# The body's kinds of channel in tuning.json (shared with the page and the face): quaternion
# components move ~1 unit/s in a quick arm swing; expressions are 0..1; the blinks use the eyelids';
# the hips' position is in metres.
BODY_KINDS = ("torso", "headBone", "arm", "leg", "foot", "finger", "expression", "gaze", "eye", "position")
AXES = ("x", "y", "z")
BLINKS = ("blinkLeft", "blinkRight")
# A channel that is not seen eases to rest at a fixed, slow cutoff (no speed boost).
REST_EASE = (TUNING["rest"].min_cutoff, TUNING["rest"].beta)
SEEN_KEYS = ("face", "pose", "leftHand", "rightHand")
BLENDSHAPES = tuple(n for n in BLENDSHAPE_NAMES if n != "_neutral")
_FINGER = re.compile(r"(Thumb|Index|Middle|Ring|Little)")
PART_OF = {bone: part for part, (bones, _) in PARTS.items() for bone in bones}
# The parts in the order of their bones: a parent's before its children's (the head and hands are
# re-expressed against the avatar's chest and forearms of this step).
PART_ORDER = tuple(dict.fromkeys(PART_OF[bone] for bone in BONES))
# part -> the bone solved against another result's parent (state.anchors), and that parent
ANCHORED = {"head": "neck", "leftHand": "leftHand", "rightHand": "rightHand"}
PARENT_OF = {"neck": "chest", "leftHand": "leftLowerArm", "rightHand": "rightLowerArm"}
T = TypeVar("T")
CHAIN_BONES = ("hips", "spine", "chest", "leftUpperArm", "leftLowerArm", "rightUpperArm", "rightLowerArm")
KEEP_PARENTS = 4  # pose times whose parents are kept: a head or hand is solved against one of the rig's last three


def bone_kind(name: str) -> str:
    if name in ("neck", "head"):
        return "headBone"
    if name.endswith(("Arm", "Hand")):
        return "arm"
    if _FINGER.search(name):
        return "finger"
    if name.endswith("Leg"):
        return "leg"
    if name.endswith(("Foot", "Toes")):
        return "foot"
    return "torso"


def bone_tracker(name: str) -> str:
    """The tracker whose result a bone comes from; the expressions, gaze and blendshapes come from the face."""
    if name in ("neck", "head"):
        return "face"  # relative to the chest of the face's frame
    if name.endswith("Hand") or _FINGER.search(name):
        return "hands"  # sided and hinged by its frame's pose
    return "pose"


def sample_time(times: dict | None, tracker: str, t_ms: float) -> float:
    """A channel's sample time: its tracker's result time in the state, else ``t_ms`` (that tracker is not in it)."""
    ts = times.get(tracker) if times else None
    return ts if ts is not None and math.isfinite(ts) else t_ms


@dataclass(frozen=True)
class BoneChannels:
    """What a bone's smoothing needs to know of it, worked out once per bone."""

    rest: tuple
    tracker: str
    kind: str
    keys: tuple[str, ...]  # its four channels' filters

    @classmethod
    def of(cls, name: str) -> BoneChannels:
        known = _BONE_CHANNELS.get(name)
        if known is not None:
            return known
        return cls(rest_rotation(name), bone_tracker(name), bone_kind(name), tuple(f"{name}.{i}" for i in range(4)))


_BONE_CHANNELS: dict[str, BoneChannels] = {}
_BONE_CHANNELS.update({name: BoneChannels.of(name) for name in BONES})
EXPRESSION_CHANNELS = tuple((name, f"expr.{name}", "eye" if name in BLINKS else "expression") for name in EXPRESSIONS)
BLENDSHAPE_CHANNELS = tuple((name, f"bs.{name}") for name in BLENDSHAPES)


class Unchanged:
    """What each group of channels gave at its last step, and that step's time and inputs (``key``,
    its time first): a step with an equal key gives the same again (StateFilter's doc)."""

    def __init__(self) -> None:
        self.last: dict[str, tuple] = {}

    def step(self, group: str, key: tuple, compute: Callable[[], T]) -> T:
        """What ``group`` gave at its last step when that step's key equals ``key``, else ``compute()``."""
        last = self.last.get(group)
        if last is not None and last[0] == key:
            return last[1]
        value = compute()
        self.last[group] = (key, value)
        return value

    def forget(self, group: str) -> None:
        """``group``'s channels were stepped without it: its next step computes."""
        self.last.pop(group, None)

    def clear(self) -> None:
        self.last.clear()


class StateFilter:
    """``filter(state, t_ms)`` -> a complete, smoothed state (every bone, expression, gaze; each part's
    weight; the hips' position once the body has been placed).

    Presence and grounding first, then the filters and locks (the module doc).
    One shortcut keeps a face-only stream cheap (2 of 49 bones seen): a channel that has never been
    seen sits at its rest value, which filtering would not change, so it gets no filter until it is
    first seen; then its filter is primed with the rest value at the last two times its tracker's
    channels were stepped at, exactly the history a filter stepped all along has by then (its last
    sample, and the one a sample at that same time would replace).

    Another keeps a holistic stream cheap: each tracker's result steps the whole state, but most of
    it is sampled at the same instant as in the last step, from the same inputs (a hands result leaves
    the face's and mostly the pose's as they were). Such a step replaces the last one with itself
    (filter.py, presence.py, stillness.py, ground.py: a step at the same time replaces the last), so
    each group of channels (a part's bones, the face's channels, the hips' position) keeps what it
    gave last time when its time and inputs are those of its last step (``Unchanged``).
    """

    def __init__(self, scale_min_cutoff: float = 1.0, scale_beta: float = 1.0, stillness: StillTuning = STILL_TUNING):
        self.scale = (scale_min_cutoff, scale_beta)
        self.stillness = stillness
        self.presence = Presence(PARTS, rest_rotation)
        self.ground = Grounding()
        self.position_seen = False
        self.filters: dict[str, OneEuroFilter] = {}
        self.quats: dict[str, tuple] = {}  # bone -> (t, last output, the output before it)
        self.steps: dict[str, tuple] = {}  # tracker -> (last step time, the one before) of its channels
        self.locks: dict[str, PartLock] = {}  # part -> its stillness lock
        self.parents: dict[float, dict] = {}  # pose time -> the avatar's chest and forearms then (global)
        self.kept: dict[str, tuple] = {}  # part -> the time and bones of its last keep of parents
        self.unchanged = Unchanged()

    def _history(self, tracker: str) -> tuple:
        return self.steps.get(tracker, (None, None))

    def _channel(self, key: str, kind: str, value: float, rest: float, tracker: str, t_ms: float, seen: bool) -> float:
        f = self.filters.get(key)
        if f is None:
            if not seen:
                return rest
            tuning = TUNING[kind]
            f = self.filters[key] = OneEuroFilter(
                tuning.min_cutoff * self.scale[0], tuning.beta * self.scale[1], tuning.d_cutoff
            )
            last, before = self._history(tracker)
            for t in (before, last):
                if t is not None:
                    f(rest, t)
        if seen:
            return f.step(value, t_ms, f.min_cutoff, f.beta)
        return f.step(value, t_ms, *REST_EASE)

    def _reference(self, name: str, rest: tuple, tracker: str, t_ms: float) -> tuple | None:
        """The output this bone's step starts from: the last one, or when this sample replaces the
        last (the same instant) the one before it; for a bone never filtered, the rest it sat at."""
        if name in self.quats:
            t, last, before = self.quats[name]
            return before if t_ms == t else last
        last_t, before_t = self._history(tracker)
        if last_t is None or (t_ms == last_t and before_t is None):
            return None
        return rest

    def _bone(self, name: str, q: tuple | None, times: dict | None, t_ms: float) -> tuple:
        bone = BoneChannels.of(name)
        rest, tracker = bone.rest, bone.tracker
        if q is None and name not in self.quats:
            return rest  # never seen yet: at rest, unfiltered (see the class doc)
        t = sample_time(times, tracker, t_ms)
        target = q if q is not None else rest
        prev = self._reference(name, rest, tracker, t)
        flip = -1.0 if prev is not None and dot4(prev, target) < 0 else 1.0
        seen = q is not None
        kind, (k0, k1, k2, k3), channel = bone.kind, bone.keys, self._channel  # written out: four per bone and step
        c0 = channel(k0, kind, flip * target[0], rest[0], tracker, t, seen)
        c1 = channel(k1, kind, flip * target[1], rest[1], tracker, t, seen)
        c2 = channel(k2, kind, flip * target[2], rest[2], tracker, t, seen)
        c3 = channel(k3, kind, flip * target[3], rest[3], tracker, t, seen)
        n = math.sqrt(c0 * c0 + c1 * c1 + c2 * c2 + c3 * c3) or 1.0
        out = (c0 / n, c1 / n, c2 / n, c3 / n)
        entry = self.quats.get(name)
        if entry is None:
            last_t, before_t = self._history(tracker)
            entry = (last_t, rest, rest if before_t is not None else None) if last_t is not None else None
        if entry is None or t > entry[0]:
            self.quats[name] = (t, out, entry[1] if entry else None)
        elif t == entry[0]:
            self.quats[name] = (t, out, entry[2])  # a replaced sample; an older one changed nothing
        return out

    def _bones(self, state: BodyState, shown: dict, weights: dict, sampled: dict, t_ms: float) -> dict:
        """Part by part, parents first: each bone's target (re-expressed against the avatar's parent
        where it was solved against another result's, see _anchored), its One Euro filter, and the
        part's stillness lock. ``sampled``: each tracker's sample time."""
        bones: dict[str, tuple] = {}
        for part in PART_ORDER:
            names, tracker = PARTS[part]
            t = sampled[tracker]
            weight = weights.get(part, 0.0)
            picture = state.picture.get(part)
            targets = {name: shown.get(name) for name in names}
            if part in ANCHORED:
                targets = self._anchored(part, targets, state.anchors, weight)
            bones.update(
                self.unchanged.step(
                    part,
                    (t, weight, picture, targets),
                    partial(self._part, part, names, t, weight, picture, targets, state.times, t_ms),
                )
            )
            if part in ("torso", "leftLowerArm", "rightLowerArm"):
                self._keep_parents(part, t, bones)
        return bones

    def _part(
        self, part: str, names: tuple, t: float, weight: float, picture, targets: dict, times: dict | None, t_ms: float
    ) -> dict:
        """One part's bones: their One Euro filters, then the part's stillness lock."""
        filtered = {name: self._bone(name, targets[name], times, t_ms) for name in names}
        lock = self._lock(part, weight, picture)
        if lock is not None:
            lock.step(t, weight, picture, {name: q for name, q in targets.items() if q is not None})
            filtered = {name: lock.output(name, q) for name, q in filtered.items()}
        return filtered

    def _lock(self, part: str, weight: float, picture) -> PartLock | None:
        """The part's stillness lock, made when it is first fully followed with a picture."""
        lock = self.locks.get(part)
        if lock is None and weight >= 1.0 and picture is not None:
            lock = self.locks[part] = PartLock(self.stillness.for_part(part))
        return lock

    def _keep_parents(self, part: str, t: float, bones: dict) -> None:
        """The avatar's chest and forearms (global) at this pose time, for the bones solved against them;
        kept again only when ``part``'s last keep was of other bones or another time (each step keeps
        after the same parts: what a keep of the same bones keeps is there already)."""
        used = (t, *(bones.get(name) for name in CHAIN_BONES))
        if self.kept.get(part) == used and t in self.parents:
            return
        self.kept[part] = used
        chain = IDENTITY
        kept = {}
        for name in ("hips", "spine", "chest"):
            chain = multiply(chain, bones.get(name, IDENTITY))
        kept["chest"] = chain
        for side in ("left", "right"):
            if f"{side}LowerArm" in bones:
                kept[f"{side}LowerArm"] = multiply(multiply(chain, bones[f"{side}UpperArm"]), bones[f"{side}LowerArm"])
        self.parents[t] = {**self.parents.get(t, {}), **kept}
        for old in sorted(self.parents)[:-KEEP_PARENTS]:
            del self.parents[old]

    def _anchored(self, part: str, targets: dict, anchors: dict, weight: float) -> dict:
        """The head is solved against the chest of its frame's pose, a hand against that frame's forearm:
        both jitter with MediaPipe's depth. Re-expressed against the avatar's smoothed (and held) parent of
        that same pose, the head keeps the facial matrix's own steadiness (its chest's jitter no longer
        shakes it) and a hand its own. The correction grows with the part's presence weight, so a part
        blending to rest still comes to rest."""
        bone = ANCHORED.get(part)
        anchor = anchors.get(bone) if bone else None
        if anchor is None or targets.get(bone) is None or weight <= 0.0:
            return targets
        smoothed = self.parents.get(anchor.t, {}).get(PARENT_OF[bone])
        if smoothed is None:
            return targets
        correction = slerp(IDENTITY, multiply(conjugate(smoothed), anchor.parent), smoothstep(0.0, 1.0, weight))
        if part == "head":  # neck and head share the rotation from the chest (docs/rig.md "Head and neck")
            shared = half(multiply(correction, multiply(targets["neck"], targets.get("head") or IDENTITY)))
            return {**targets, "neck": shared, "head": shared if targets.get("head") else None}
        return {**targets, bone: multiply(correction, targets[bone])}

    def filter(self, state: BodyState, t_ms: float | None = None) -> BodyState:
        """Each channel steps at its tracker's result time in ``state.times``; ``t_ms`` (default
        ``state.t``) is the time of the channels whose tracker is not in the state (easing to rest)."""
        t_ms = state.t if t_ms is None else t_ms
        times = state.times
        sampled = {tracker: sample_time(times, tracker, t_ms) for tracker in TRACKERS}
        shown, weights = self.presence.step(state.bones, state.parts, sampled.__getitem__)
        bones = self._bones(state, shown, weights, sampled, t_ms)
        position = self.unchanged.step(
            "position", (sampled["pose"], state.root), lambda: self._position(state, times, t_ms)
        )
        t_face = sampled["face"]
        expressions, blendshapes, gaze = self.unchanged.step(
            "face", (t_face, state.expressions, state.blendshapes, state.gaze), lambda: self._face(state, t_face)
        )
        seen = {key: bool(state.seen.get(key)) for key in SEEN_KEYS}
        for tracker in TRACKERS:
            self._stepped(tracker, sample_time(times, tracker, t_ms))
        return BodyState(
            t=t_ms,
            times=dict(times),
            seen=seen,
            bones=bones,
            expressions=expressions,
            gaze=gaze,
            blendshapes=blendshapes,
            version=state.version,
            parts=weights,
            hips_position=position,
        )

    def _face(self, state: BodyState, t_face: float) -> tuple[dict, dict, dict]:
        """The expressions, blendshapes and gaze, smoothed."""
        given = state.expressions
        expressions = {
            name: self._channel(key, kind, given.get(name, 0.0), 0.0, "face", t_face, name in given)
            for name, key, kind in EXPRESSION_CHANNELS
        }
        bs = state.blendshapes
        blendshapes = {
            name: self._channel(key, "expression", bs[name] if bs else 0.0, 0.0, "face", t_face, bool(bs))
            for name, key in BLENDSHAPE_CHANNELS
        }
        gaze = {
            axis: self._channel(
                f"gaze.{axis}", "gaze", state.gaze[axis] if state.gaze else 0.0, 0.0, "face", t_face, bool(state.gaze)
            )
            for axis in ("yaw", "pitch")
        }
        return expressions, blendshapes, gaze

    def _position(self, state: BodyState, times: dict | None, t_ms: float) -> tuple | None:
        """The hips' position in the room, smoothed; None until the body has been placed once."""
        t = sample_time(times, "pose", t_ms)
        placed = self.ground.step(state.root, t)
        self.position_seen = self.position_seen or placed is not None
        if not self.position_seen:
            return None
        target = placed if placed is not None else REST_POSITION
        return tuple(
            self._channel(f"position.{axis}", "position", v, rest, "pose", t, placed is not None)
            for axis, v, rest in zip(AXES, target, REST_POSITION)
        )

    def _stepped(self, tracker: str, t: float) -> None:
        last, _ = self._history(tracker)
        if last is None or t > last:
            self.steps[tracker] = (t, last)

    def start_from(self, state: BodyState) -> BodyState:
        """Every channel starts at ``state`` (smoothed elsewhere: a played take), its parts followed at
        their weights; from there further steps ease what is no longer seen to rest. Returns the state
        as this filter shows it."""
        self.reset()
        self.presence.start_from(state.bones, state.parts, state.t)
        shown = self.filter(state)
        if state.hips_position is not None:  # a take holds where the hips were, not the landmarks they came from
            self.position_seen = True
            t = sample_time(state.times, "pose", state.t)
            shown.hips_position = tuple(
                self._channel(f"position.{axis}", "position", v, rest, "pose", t, True)
                for axis, v, rest in zip(AXES, state.hips_position, REST_POSITION)
            )
            self.unchanged.forget("position")
        return shown

    def reset(self) -> None:
        self.presence.reset()
        self.ground.reset()
        self.position_seen = False
        self.filters.clear()
        self.quats.clear()
        self.steps.clear()
        self.locks.clear()
        self.parents.clear()
        self.kept.clear()
        self.unchanged.clear()
