"""One Euro filter for the rig (Casiez, Roussel, Vogel, CHI 2012).


- filter once per tracking result, at the result's timestamp (ms), never on a
  timer of your own: the smoothing then depends on the results, not on how
  often something reads them;
- the speed that raises the cutoff comes from the previous *raw* sample
  (Casiez's reference), filtered at ``d_cutoff``;
- the tuning per kind of channel is read from tuning.json beside this file
  (tuned with the fidelity benchmark, bench/fidelity.py);
  tests/unit/test_rig_filter.py checks the filter against Casiez's reference.

Usage::

    f = OneEuroFilter(min_cutoff=1.2, beta=0.03)      # one channel
    y = f(value, t_ms)

    bank = FilterBank()                               # a filter per channel, tuned by kind
    smooth = bank({"ParamAngleX": 12.0, "ParamEyeLOpen": 0.9}, t_ms)
    yaw = bank.filter("FaceAngleX", 12.0, t_ms, kind="angle")   # names of your own

A channel's kind is the first entry of ``TUNING`` whose ``match`` pattern finds
its name (Live2D parameter names), else "other"; pass ``kind=``
for channels named otherwise. Adding a kind is one entry in tuning.json.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from collections.abc import Callable, Mapping

from live2d_pose.rig.stillness import StillTuning

TUNING_PATH = Path(__file__).with_name("tuning.json")


@dataclass(frozen=True)
class Tuning:
    """One Euro settings of one kind of channel (see tuning.json)."""

    min_cutoff: float  # Hz; lower = smoother at rest, more lag
    beta: float  # cutoff gain per unit/s of speed; higher = less lag when moving
    d_cutoff: float = 1.0  # Hz, cutoff of the speed estimate
    match: str = ""  # regular expression on channel names; "" = only by explicit kind


def _load(path: Path = TUNING_PATH) -> tuple[Mapping[str, Tuning], Mapping[str, float], StillTuning]:
    data = json.loads(path.read_text(encoding="utf-8"))
    kinds = {
        kind: Tuning(
            min_cutoff=float(t["minCutoff"]),
            beta=float(t["beta"]),
            d_cutoff=float(t.get("dCutoff", 1.0)),
            match=t.get("match", ""),
        )
        for kind, t in data["kinds"].items()
    }
    if "other" not in kinds:
        raise ValueError(f"{path}: the tuning needs an 'other' kind for unmatched channels")
    return (
        MappingProxyType(kinds),
        MappingProxyType(dict(data.get("eyes", {}))),
        StillTuning.from_json(data.get("stillness", {})),
    )


TUNING, EYE_TUNING, STILL_TUNING = _load()


TWO_PI = 2.0 * math.pi


class OneEuroFilter:
    """One channel. ``f(value, t_ms)`` returns the filtered value.

    A second sample at the same instant as the last replaces it: the last step
    is run again with the new value (a channel solved from several trackers'
    results is sampled again when a later one of them arrives, docs/rig.md
    "Smoothing"). A sample older than the last (a clock step back), or a
    non-finite value, carries no usable rate: it is ignored and the last
    output returned (0.0 before the first sample).
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(
                f"One Euro needs min_cutoff > 0, d_cutoff > 0, beta >= 0 (got {min_cutoff}, {d_cutoff}, {beta})"
            )
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self.reset()

    @classmethod
    def of(cls, tuning: Tuning, scale_min_cutoff: float = 1.0, scale_beta: float = 1.0) -> OneEuroFilter:
        return cls(tuning.min_cutoff * scale_min_cutoff, tuning.beta * scale_beta, tuning.d_cutoff)

    def reset(self) -> None:
        self.out: float | None = None  # last filtered value
        self.raw = 0.0  # last raw sample: the speed estimate's reference
        self.dx = 0.0  # filtered speed (units / s)
        self.t = 0.0  # ms of the last sample
        self.before: tuple[float, float, float, float] | None = None  # (out, raw, dx, t) before the last sample

    def __call__(self, value: float, t_ms: float) -> float:
        return self.step(value, t_ms, self.min_cutoff, self.beta)

    def step(self, value: float, t_ms: float, min_cutoff: float, beta: float) -> float:
        """One sample, filtered with this ``min_cutoff`` and ``beta`` instead of the filter's own (a
        channel easing to rest). Each smoothing factor is 1 / (1 + tau / dt), tau = 1 / (2 pi cutoff),
        written out: this is the rig's innermost loop."""
        value, t_ms = float(value), float(t_ms)
        if not (math.isfinite(value) and math.isfinite(t_ms)):
            return 0.0 if self.out is None else self.out
        if self.out is not None and t_ms == self.t:
            if value == self.raw:
                return self.out  # the same sample again: replacing it would change nothing
            self.undo()
        out = self.out
        if out is None:
            self.out = self.raw = value
            self.t = t_ms
            return value
        dt = (t_ms - self.t) / 1000.0
        if not dt > 0:
            return out
        dx = self.dx
        self.before = (out, self.raw, dx, self.t)
        raw_dx = (value - self.raw) / dt
        dx += 1.0 / (1.0 + (1.0 / (TWO_PI * self.d_cutoff)) / dt) * (raw_dx - dx)
        cutoff = min_cutoff + beta * abs(dx)
        out += 1.0 / (1.0 + (1.0 / (TWO_PI * cutoff)) / dt) * (value - out)
        self.dx, self.out, self.raw, self.t = dx, out, value, t_ms
        return out

    def undo(self) -> None:
        """Back to the state before the last sample."""
        if self.before is None:
            self.reset()
            return
        self.out, self.raw, self.dx, self.t = self.before
        self.before = None


def channel_kind(name: str, tuning: Mapping[str, Tuning] = TUNING) -> str:
    """The first kind whose ``match`` pattern finds `name`; "other" when none does."""
    for kind, t in tuning.items():
        if t.match and re.search(t.match, name):
            return kind
    return "other"


class FilterBank:
    """A One Euro filter per channel, made on first use and tuned by the channel's kind.

    ``scale_min_cutoff`` and ``scale_beta`` multiply every kind's tuning. ``kind_of(name)`` picks a kind for
    channels not given one explicitly (default: the tuning's patterns).
    """

    def __init__(
        self,
        tuning: Mapping[str, Tuning] = TUNING,
        scale_min_cutoff: float = 1.0,
        scale_beta: float = 1.0,
        kind_of: Callable[[str], str] | None = None,
    ):
        if "other" not in tuning:
            raise ValueError("the tuning needs an 'other' kind for unmatched channels")
        self.tuning = tuning
        self.scale_min_cutoff = scale_min_cutoff
        self.scale_beta = scale_beta
        self.kind_of = kind_of or (lambda name: channel_kind(name, tuning))
        self._filters: dict[str, OneEuroFilter] = {}

    def __call__(
        self, values: Mapping[str, float], t_ms: float, kinds: Mapping[str, str] | None = None
    ) -> dict[str, float]:
        """Filter one result's channels (all sampled at t_ms)."""
        kinds = kinds or {}
        return {name: self.filter(name, value, t_ms, kinds.get(name)) for name, value in values.items()}

    def filter(self, channel: str, value: float, t_ms: float, kind: str | None = None) -> float:
        """Filter one channel; `kind` is only read when the channel is first seen."""
        f = self._filters.get(channel)
        if f is None:
            tuning = self.tuning.get(kind or self.kind_of(channel), self.tuning["other"])
            f = self._filters[channel] = OneEuroFilter.of(tuning, self.scale_min_cutoff, self.scale_beta)
        return f(value, t_ms)

    def reset(self) -> None:
        """Forget every channel (tracking lost, stream changed)."""
        self._filters.clear()


class ResultClock:
    """Maps results' ``ts.ingest`` (the ingest host's wall clock, ms) onto this process's clock.

    The spacing of the results is
    kept exactly (the filters' dt is the camera's frame interval, not the
    network's jitter), whatever the two machines' clocks say; the offset is
    the fastest arrival seen, so a mapped time is never later than the
    result's arrival. After ``stale_ms`` without any result the next one
    re-anchors, so a stream from a restarted (or other) host with a clock
    behind is not ignored until that clock catches up.
    """

    def __init__(self, stale_ms: float = math.inf):
        self.stale_ms = stale_ms
        self.reset()

    def reset(self) -> None:
        self.offset: float | None = None
        self.last_arrival = -math.inf

    def to_local(self, ts_ms: float | None, now_ms: float) -> float:
        """Local time of a result stamped ``ts_ms`` (the ingest's clock) that arrived at ``now_ms``."""
        if now_ms - self.last_arrival >= self.stale_ms:
            self.offset = None  # resuming: re-anchor
        self.last_arrival = max(self.last_arrival, now_ms)
        if ts_ms is None or not math.isfinite(ts_ms):
            return now_ms
        offset = ts_ms - now_ms
        if self.offset is None or offset > self.offset:
            self.offset = offset
        return ts_ms - self.offset
