"""Which parts of the body the avatar follows, and how a part it cannot see comes to rest.

SOLVE gives every part (solve.PARTS: the torso, each arm and leg segment, each
hand with its fingers, the head) a confidence in 0..1 and reports its bones
from FAINT up. This stage, one per stream before the One Euro filters, turns
that into a calm decision (docs/rig.md "Confidence"):

- **Hysteresis in level and in time.** Evidence for a part grows while its
  confidence is at least SEEN and shrinks while it is below FAINT; in between
  it stays. A part at rest is followed once its evidence is full: ON_MS of
  confidence, net, each result counting for at most MOST_PER_RESULT_MS (so
  two results at least, however slow the tracker; its evidence shrinks as
  fast as it grows, so a guess that comes and goes never adds up); a
  followed part rests once its evidence is
  gone: OFF_MS net without it (it refills at the ON_MS rate). A limb at the
  edge of detection, or one MediaPipe misses for a few frames, never flips.
- **Holding.** While followed, a part that this result lacks keeps its last
  bones.
- **A smooth blend to rest.** Each part's weight moves linearly toward 1
  (followed) or 0 (not) over BLEND_MS, and its bones are shown as
  slerp(rest, bones, smoothstep(weight)): a lost arm lowers to its side in
  BLEND_MS (and the One Euro filters' rest easing), a found one rises from
  there. A tenth of a second: no pop, and a person just found is followed
  at once (at 150 ms the first frames of each person cost the arms' pose
  agreement 0.4 degrees mean, 1.7 at p90, on sports2d_demo.mp4).

The head (the face tracker's part, AT_ONCE) is followed from its first
result, at once: MediaPipe does not guess a face out of the picture. It is
held and blended to rest like the others when lost.

Each part steps at its tracker's result time (state.times), like the filters:
a second step at the same time replaces the last, an older one changes
nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from live2d_pose.rig.limbs import FAINT, SEEN
from live2d_pose.rig.quat import slerp, smoothstep

ON_MS = 100.0
OFF_MS = 400.0
# One result counts for at most this much evidence (half of ON_MS), so a part is followed only after two
# results that see it, however slowly its tracker answers: a pose lane at 5 fps under load would otherwise
# follow a guess from one result (200 ms of evidence at once). A camera at 20 fps or more is not slowed.
MOST_PER_RESULT_MS = ON_MS / 2
BLEND_MS = 100.0
# The face is a detection of its own (MediaPipe never guesses one out of the picture): its part, the
# head, is followed from the first result, at once, as before there were parts.
AT_ONCE = {"face"}


@dataclass
class _Part:
    t: float | None = None
    evidence: float = 0.0
    followed: bool = False
    weight: float = 0.0
    held: dict = field(default_factory=dict)  # bone -> the last rotation SOLVE reported while followed


@dataclass
class _Slot:
    now: _Part = field(default_factory=_Part)
    before: _Part | None = None  # the part before its last step (a step at the same time replaces it)


def _advance(part: _Part, confidence: float, bones: dict, t: float, at_once: bool = False) -> _Part:
    """One step of one part: its evidence, whether it is followed, its blend weight, its held bones."""
    dt = 0.0 if part.t is None else t - part.t
    evidence = part.evidence
    if confidence >= SEEN:
        evidence = 1.0 if at_once else min(1.0, evidence + min(dt, MOST_PER_RESULT_MS) / ON_MS)
    elif confidence < FAINT:
        evidence = max(0.0, evidence - dt / (OFF_MS if part.followed else ON_MS))
    followed = evidence >= 1.0 or (part.followed and evidence > 0.0)
    step = dt / BLEND_MS
    if followed:
        weight = 1.0 if at_once else min(1.0, part.weight + step)
    else:
        weight = max(0.0, part.weight - step)
    held = {**part.held, **bones} if followed or bones else part.held
    if not followed and weight == 0.0:
        held = {}
    return _Part(t, evidence, followed, weight, held)


class Presence:
    """``step(state, sample_time)`` -> the state's bones as the avatar should show them, and each part's weight.

    ``parts``: part -> (its bones, its tracker); ``rest(bone)``: a bone's rest rotation.
    """

    def __init__(self, parts: dict, rest):
        self.parts = parts
        self.trackers = tuple(dict.fromkeys(tracker for _, tracker in parts.values()))
        self.rest = rest
        self.slots: dict[str, _Slot] = {}
        # part -> ((time, confidence, bones) of its last step, (its weight, its bones shown)): a step at the
        # same time with the same inputs replaces the last one with the same, so it is skipped
        self.shown: dict[str, tuple] = {}

    def step(self, bones: dict, confidence: dict, time_of) -> tuple[dict, dict]:
        """``bones``/``confidence``: SOLVE's; ``time_of(tracker)``: that tracker's sample time.
        Returns (the bones to smooth: followed or blending parts only, {part: weight})."""
        out, weights = {}, {}
        times = {tracker: time_of(tracker) for tracker in self.trackers}
        for name, (part_bones, tracker) in self.parts.items():
            reported = {b: bones[b] for b in part_bones if b in bones}
            t, level = times[tracker], confidence.get(name, 0.0)
            last = self.shown.get(name)
            if last is not None and last[0] == (t, level, reported):
                weights[name], shown = last[1]  # the same step again: what it gave (a replaced step's outcome)
            else:
                part = self._step(name, level, reported, t, tracker in AT_ONCE)
                weights[name], shown = part.weight, self._shown(part)
                self.shown[name] = ((t, level, reported), (part.weight, shown))
            out.update(shown)
        return out, weights

    def _shown(self, part: _Part) -> dict:
        """A part's bones as the avatar shows them: blended from rest by its weight."""
        if part.weight <= 0.0:
            return {}
        w = smoothstep(0.0, 1.0, part.weight)
        return {bone: q if w >= 1.0 else slerp(self.rest(bone), q, w) for bone, q in part.held.items()}

    def _step(self, name: str, confidence: float, bones: dict, t: float, at_once: bool) -> _Part:
        slot = self.slots.setdefault(name, _Slot())
        last = slot.now
        if last.t is not None and t < last.t:
            return last  # an older result changes nothing
        if last.t is not None and t == last.t and slot.before is not None:
            last = slot.before  # the same instant again: this sample replaces the last
        elif last.t is None or t > last.t:
            slot.before = _Part(last.t, last.evidence, last.followed, last.weight, dict(last.held))
        if not math.isfinite(t):
            return last
        slot.now = _advance(last, confidence, bones, t, at_once)
        return slot.now

    def start_from(self, bones: dict, weights: dict, t: float) -> None:
        """Start from a state shown elsewhere (a played take) at ``t``: each part with a weight is
        followed at that weight, its bones held, so it is held and then blended to rest like a part
        the camera lost, instead of jumping there."""
        self.reset()
        for name, (part_bones, _) in self.parts.items():
            weight = weights.get(name, 0.0)
            if weight > 0.0:
                held = {b: bones[b] for b in part_bones if b in bones}
                self.slots[name] = _Slot(_Part(t, 1.0, True, weight, held))

    def reset(self) -> None:
        self.slots.clear()
        self.shown.clear()
