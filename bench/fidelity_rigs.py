"""Rigs the fidelity benchmark measures: plug-ins in one registry.

A rig turns recorded results into avatar channels and smooths them its own
way. The benchmark needs, per input, the unfiltered channels per result, the
smoothed ones, and what a display at R Hz draws. Two kinds of plug-in:

- ``JsRig``: the viewer's own code (protocol.js, rig.js, filter.js) run by node
  (bench/fidelity_rig.mjs), with the page's display loop simulated at each rate;
- ``PythonRig``: a function ``solve(message) -> {channel: value} | None`` (one
  viewer message of a recording, None when it holds no face) smoothed with
  live2d_pose/rig/filter.py once per result. What a receiving app shows at R Hz
  is the latest value sent.

Adding the server rig of the VMC / VTube Studio outputs is one call::

    register(PythonRig("server", solve=my_solve, spec=RigSpec(groups=..., eyes=..., kinds=...)))

``FilterOnlyRig`` runs the Python filter on another rig's raw channels (for
experiments: ``register(FilterOnlyRig("python-filter", RIGS["js"], spec=LIVE2D_SPEC))``).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import msgpack
import numpy as np

from live2d_pose.rig.filter import FilterBank, channel_kind

REPO = Path(__file__).resolve().parents[1]
NODE_RUNNER = Path(__file__).with_name("fidelity_rig.mjs")
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


# The viewer's Live2D parameters (mirrored, the page's default: the avatar's
# left eye shows the subject's right eye) and its VRM avatars' eyes (the body
# state's blinks, the subject's sides).
LIVE2D_GROUPS = {
    "head": ("ParamAngleX", "ParamAngleY", "ParamAngleZ"),
    "body": ("ParamBodyAngleX", "ParamBodyAngleY", "ParamBodyAngleZ"),
    "eyes": ("ParamEyeLOpen", "ParamEyeROpen"),
    "gaze": ("ParamEyeBallX", "ParamEyeBallY"),
    "mouth": ("ParamMouthOpenY", "ParamMouthForm"),
    "brows": ("ParamBrowLY", "ParamBrowRY"),
}
LIVE2D_EYES = {"eyeBlinkRight": "ParamEyeLOpen", "eyeBlinkLeft": "ParamEyeROpen"}
VRM_EYES = {"eyeBlinkLeft": "VRM.eyeOpenLeft", "eyeBlinkRight": "VRM.eyeOpenRight"}

KALIDOKIT_HEAD = ("KalidoKit.ParamAngleX", "KalidoKit.ParamAngleY", "KalidoKit.ParamAngleZ")

PAGE_SPEC = RigSpec(
    groups={**LIVE2D_GROUPS, "eyes (VRM)": tuple(VRM_EYES.values()),
            "head from KalidoKit (rig.js, not drawn)": KALIDOKIT_HEAD},
    eyes=(LIVE2D_EYES, VRM_EYES),
    kinds={**{ch: "eye" for ch in VRM_EYES.values()}, **{ch: "angle" for ch in KALIDOKIT_HEAD}},
    # main.js takes the head and body angles from the body state (the facial
    # matrix's head bone, state-filter.js), the rest from rig.js's parameters
    tuned={"headBone": LIVE2D_GROUPS["head"], "angle": KALIDOKIT_HEAD,
           "eye": LIVE2D_GROUPS["eyes"] + tuple(VRM_EYES.values()),
           "eyeBall": LIVE2D_GROUPS["gaze"], "mouth": LIVE2D_GROUPS["mouth"], "brow": LIVE2D_GROUPS["brows"]},
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

    def with_tunings(self, recordings: Mapping[str, dict], kind: str, settings: list[tuple[float, float, float]],
                     channels: tuple[str, ...]) -> list[dict[str, dict[str, np.ndarray]]]:
        """Per setting (min_cutoff, beta, d_cutoff) of `kind`: input -> channel -> smoothed per result."""
        raise NotImplementedError


def _filter_per_result(t: np.ndarray, raw: Mapping[str, np.ndarray], spec: RigSpec,
                       bank: FilterBank | None = None) -> dict[str, np.ndarray]:
    bank = bank or FilterBank(kind_of=spec.kind)
    out = {name: np.empty(len(t)) for name in raw}
    for i, ts in enumerate(t):
        for name, values in raw.items():
            out[name][i] = bank.filter(name, values[i], ts)
    return out


def _held(t: np.ndarray, filtered: Mapping[str, np.ndarray], rates: list[float]) -> dict[float, dict[str, np.ndarray]]:
    return {rate: {name: hold(t, v, display_grid(t, rate)) for name, v in filtered.items()} for rate in rates}


class JsRig(Rig):
    """The viewer's JavaScript rig and filter, run by node."""

    name = "js"
    about = "the viewer page (web/src, node): rig.js + eyes.js + filter.js, solve.js + state-filter.js"
    spec = PAGE_SPEC

    def __init__(self, node: str | None = None):
        self.node = node or shutil.which("node")
        self._last: tuple[tuple, dict[str, RigRun]] | None = None  # FilterOnlyRig reuses the same run

    def run(self, recordings: Mapping[str, dict], rates: list[float]) -> dict[str, RigRun]:
        key = (tuple((name, id(rec)) for name, rec in recordings.items()), tuple(rates))
        if self._last is None or self._last[0] != key:
            self._last = (key, self._run(recordings, rates))
        return self._last[1]

    def _node(self, recordings: Mapping[str, dict], **request) -> dict:
        if not self.node:
            raise RuntimeError("node is not on PATH: the JavaScript rig needs it (make setup installs web/)")
        inputs = {name: [base64.b64encode(msgpack.packb(r, use_bin_type=True)).decode("ascii")
                         for r in rec["results"]] for name, rec in recordings.items()}
        done = subprocess.run([self.node, str(NODE_RUNNER)], input=json.dumps({"inputs": inputs, **request}),
                              capture_output=True, text=True, cwd=REPO, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"node {NODE_RUNNER.name} failed: {done.stderr.strip()[-2000:]}")
        return json.loads(done.stdout)

    def with_tunings(self, recordings, kind, settings, channels):
        candidates = [{kind: {"minCutoff": m, "beta": b, "dCutoff": d}} for m, b, d in settings]
        answer = self._node(recordings, rates=[], candidates=candidates, channels=list(channels))
        return [{name: {ch: np.array(v, float) for ch, v in per_input.items()} for name, per_input in c.items()}
                for c in answer["candidates"]]

    def _run(self, recordings: Mapping[str, dict], rates: list[float]) -> dict[str, RigRun]:
        answer = self._node(recordings, rates=rates, phase=DISPLAY_PHASE)["runs"]
        runs = {}
        for name, a in answer.items():
            t = np.array(a["t"], float)
            shown = {}
            for rate in rates:
                s = a["shown"][f"{rate:g}"]  # JavaScript writes 30.0 as "30"
                grid = display_grid(t, rate)
                if len(s["t"]) != len(grid) or not np.array_equal(np.array(s["t"]), grid):
                    raise RuntimeError(f"{name}: node's display grid at {rate} Hz differs from display_grid()")
                shown[rate] = {k: np.array(v, float) for k, v in s["values"].items()}
            runs[name] = RigRun(t, {k: np.array(v, float) for k, v in a["raw"].items()},
                                {k: np.array(v, float) for k, v in a["filtered"].items()}, shown)
        return runs


class PythonRig(Rig):
    """A rig written in Python: ``solve(message)`` per result, filter.py per result."""

    def __init__(self, name: str, solve: Callable[[dict], Mapping[str, float] | None], spec: RigSpec,
                 about: str = ""):
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
        tuning = {k: v for k, v in FilterBank().tuning.items()}
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


register(JsRig())
# The server rig of the VMC / VTube Studio outputs (live2d_pose/rig/), which smooths its own way
# (bench/fidelity_server.py builds on the classes above, hence the late import).
from live2d_pose.bench.fidelity_server import ServerRig  # noqa: E402

register(ServerRig())
