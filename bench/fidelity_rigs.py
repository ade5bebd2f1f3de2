"""Rigs the fidelity benchmark measures: plug-ins in one registry.

A rig turns recorded results into avatar channels and smooths them its own
way. The benchmark needs, per input, the unfiltered channels per result, the
smoothed ones, and what a display at R Hz draws (the latest value it got:
the page, VSeeFace and VTube Studio all hold the newest motion). Plug-ins:

- ``ServerRig`` (fidelity_server.py, registered as ``server``): the one rig,
  live2d_pose/rig, as the gateway runs it and as the page and the outputs
  read its motion messages;
- ``PythonRig``: a function ``solve(message) -> {channel: value} | None`` (one
  viewer message of a recording, None when it holds no face) smoothed with
  live2d_pose/rig/filter.py once per result, for experiments::

    register(PythonRig("mine", solve=my_solve, spec=RigSpec(groups=..., eyes=..., kinds=...)))

``FilterOnlyRig`` runs the Python filter on another rig's raw channels (for
experiments: ``register(FilterOnlyRig("filter-only", RIGS["server"], spec=LIVE2D_SPEC))``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable, Mapping

import numpy as np

from live2d_pose.rig.filter import FilterBank, channel_kind

DISPLAY_PHASE = 0.37  # first display frame this far into a period after the first result: no ties


@dataclass(frozen=True)
class RigSpec:
    """What the benchmark needs to know about a rig's channels."""

    groups: Mapping[str, tuple[str, ...]]  # report group -> channels ("head": angles, ...)
    # per avatar eye pair: subject's blendshape (eyeBlinkLeft/Right) -> the channel showing that eye (1 = open)
    eyes: tuple[Mapping[str, str], ...]
    kinds: Mapping[str, str] = field(default_factory=dict)  # channel -> kind of channel; default: filter.channel_kind
    # tuning kind -> the channels it smooths in this rig (--tune); default: the channels of each kind
    tuned: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def kind(self, channel: str) -> str:
        return self.kinds.get(channel) or channel_kind(channel)

    def tuned_kinds(self) -> dict[str, tuple[str, ...]]:
        if self.tuned:
            return dict(self.tuned)
        out: dict[str, list[str]] = {}
        for chs in self.groups.values():
            for ch in chs:
                out.setdefault(self.kind(ch), []).append(ch)
        return {k: tuple(v) for k, v in out.items()}


# The Live2D parameters (mirrored, the page's default: the avatar's left eye
# shows the subject's right eye) and the VRM avatars' eyes (the motion's
# blinks, mirrored too).
LIVE2D_GROUPS = {
    "head": ("ParamAngleX", "ParamAngleY", "ParamAngleZ"),
    "body": ("ParamBodyAngleX", "ParamBodyAngleY", "ParamBodyAngleZ"),
    "eyes": ("ParamEyeLOpen", "ParamEyeROpen"),
    "gaze": ("ParamEyeBallX", "ParamEyeBallY"),
    "mouth": ("ParamMouthOpenY", "ParamMouthForm"),
    "brows": ("ParamBrowLY", "ParamBrowRY"),
}
LIVE2D_EYES = {"eyeBlinkRight": "ParamEyeLOpen", "eyeBlinkLeft": "ParamEyeROpen"}
VRM_EYES = {"eyeBlinkRight": "VRM.eyeOpenLeft", "eyeBlinkLeft": "VRM.eyeOpenRight"}

PAGE_SPEC = RigSpec(
    groups={**LIVE2D_GROUPS, "eyes (VRM)": tuple(VRM_EYES.values())},
    eyes=(LIVE2D_EYES, VRM_EYES),
    kinds=dict.fromkeys(VRM_EYES.values(), "eye"),
    # the head and body angles come from the state's bones (the facial matrix's head bone,
    # state_filter.py), the rest from the face's parameters (filter.py's FilterBank)
    tuned={
        "headBone": LIVE2D_GROUPS["head"],
        "eye": LIVE2D_GROUPS["eyes"] + tuple(VRM_EYES.values()),
        "eyeBall": LIVE2D_GROUPS["gaze"],
        "mouth": LIVE2D_GROUPS["mouth"],
        "brow": LIVE2D_GROUPS["brows"],
    },
)
LIVE2D_SPEC = RigSpec(groups=LIVE2D_GROUPS, eyes=(LIVE2D_EYES,))


@dataclass
class RigRun:
    """One rig on one input."""

    t: np.ndarray  # ms, the results that hold a face
    raw: dict[str, np.ndarray]  # unfiltered, per result
    filtered: dict[str, np.ndarray]  # the rig's smoothing, per result
    shown: dict[float, dict[str, np.ndarray]]  # per display rate: values on display_grid(t, rate)


def display_grid(t: np.ndarray, rate: float, phase: float = DISPLAY_PHASE) -> np.ndarray:
    """Display frame times from just after the first result to one frame past the last."""
    period = 1000.0 / rate
    n = int(np.floor((t[-1] + period - t[0]) / period - phase)) + 1
    grid = t[0] + (phase + np.arange(n, dtype=float)) * period
    return grid[grid <= t[-1] + period]


def hold(t: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """What a display shows at `grid`: the latest value at or before each time."""
    return values[np.searchsorted(t, grid, side="right") - 1]


class Rig:
    name: str
    about: str
    spec: RigSpec

    def run(self, recordings: Mapping[str, dict], rates: list[float]) -> dict[str, RigRun]:
        raise NotImplementedError

    def with_tunings(
        self,
        recordings: Mapping[str, dict],
        kind: str,
        settings: list[tuple[float, float, float]],
        channels: tuple[str, ...],
    ) -> list[dict[str, dict[str, np.ndarray]]]:
        """Per setting (min_cutoff, beta, d_cutoff) of `kind`: input -> channel -> smoothed per result."""
        raise NotImplementedError


def _filter_per_result(
    t: np.ndarray, raw: Mapping[str, np.ndarray], spec: RigSpec, bank: FilterBank | None = None
) -> dict[str, np.ndarray]:
    bank = bank or FilterBank(kind_of=spec.kind)
    out = {name: np.empty(len(t)) for name in raw}
    for i, ts in enumerate(t):
        for name, values in raw.items():
            out[name][i] = bank.filter(name, values[i], ts)
    return out


def _held(t: np.ndarray, filtered: Mapping[str, np.ndarray], rates: list[float]) -> dict[float, dict[str, np.ndarray]]:
    return {rate: {name: hold(t, v, display_grid(t, rate)) for name, v in filtered.items()} for rate in rates}


class PythonRig(Rig):
    """A rig written in Python: ``solve(message)`` per result, filter.py per result."""

    def __init__(self, name: str, solve: Callable[[dict], Mapping[str, float] | None], spec: RigSpec, about: str = ""):
        self.name, self.solve, self.spec, self.about = name, solve, spec, about or name

    def run(self, recordings: Mapping[str, dict], rates: list[float]) -> dict[str, RigRun]:
        runs = {}
        for name, rec in recordings.items():
            t, rows = [], []
            for message in rec["results"]:
                channels = self.solve(message)
                if channels is not None:
                    t.append(message["ts"]["ingest"])
                    rows.append(channels)
            if not rows:
                raise RuntimeError(f"{self.name}: no channels for any result of {name}")
            t_arr = np.array(t, float)
            raw = {k: np.array([r[k] for r in rows], float) for k in rows[0]}
            filtered = _filter_per_result(t_arr, raw, self.spec)
            runs[name] = RigRun(t_arr, raw, filtered, _held(t_arr, filtered, rates))
        return runs

    def with_tunings(self, recordings, kind, settings, channels):
        return _python_tunings(self.run(recordings, []), self.spec, kind, settings, channels)


def _python_tunings(runs: Mapping[str, RigRun], spec: RigSpec, kind: str, settings, channels):
    from live2d_pose.rig.filter import Tuning

    out = []
    for m, b, d in settings:
        tuning = dict(FilterBank().tuning.items())
        tuning[kind] = Tuning(m, b, d, tuning[kind].match if kind in tuning else "")
        one = {}
        for name, run in runs.items():
            raw = {ch: run.raw[ch] for ch in channels}
            one[name] = _filter_per_result(run.t, raw, spec, FilterBank(tuning, kind_of=spec.kind))
        out.append(one)
    return out


class FilterOnlyRig(Rig):
    """Another rig's raw channels through live2d_pose/rig/filter.py, per result."""

    def __init__(self, name: str, base: Rig, spec: RigSpec | None = None, about: str = ""):
        self.name, self.base, self.spec = name, base, spec or base.spec
        self.about = about or f"{base.name}'s raw channels, each through filter.py by its name's kind"

    def run(self, recordings: Mapping[str, dict], rates: list[float]) -> dict[str, RigRun]:
        runs = {}
        for name, run in self.base.run(recordings, rates).items():
            raw = {ch: run.raw[ch] for chs in self.spec.groups.values() for ch in chs}
            filtered = _filter_per_result(run.t, raw, self.spec)
            runs[name] = RigRun(run.t, raw, filtered, _held(run.t, filtered, rates))
        return runs

    def with_tunings(self, recordings, kind, settings, channels):
        return _python_tunings(self.run(recordings, []), self.spec, kind, settings, channels)


RIGS: dict[str, Rig] = {}


def register(rig: Rig) -> Rig:
    """Make a rig measurable by name (``--rigs NAME``)."""
    if rig.name in RIGS:
        raise ValueError(f"a rig named {rig.name!r} is already registered")
    RIGS[rig.name] = rig
    return rig


# The one rig (live2d_pose/rig/), which smooths its own way (bench/fidelity_server.py builds on
# the classes above, hence the late import).
from live2d_pose.bench.fidelity_server import ServerRig  # noqa: E402

register(ServerRig())
