"""Tune each kind of channel with the fidelity benchmark, not by eye (``--tune``).

For every kind a rig says it tunes (RigSpec.tuned: for the page headBone,
angle, eye, eyeBall, mouth, brow), a grid of One Euro settings runs through
the rig's own smoothing (the page's JavaScript in node, all settings in one
call; a Python rig through filter.py), once per result, drawn at 60 Hz. A
setting is admissible when its lag is at most 25 ms (the head's target,
applied to every kind) and, for eyelids, when every blink and wink is kept.
Among those it picks the lowest still-face jitter relative to KalidoKit's demo
at the same lag (roughness while moving where the still face does not move
the channel at all). It prints the figures and the tuning.json entries;
copying them into live2d_pose/rig/tuning.json is a deliberate, reviewed step.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Mapping

import numpy as np

from live2d_pose.bench.fidelity import REFERENCE_RATE, HEAD_LAG_MAX_MS, Evaluation
from live2d_pose.bench import fidelity_metrics as fm
from live2d_pose.bench.fidelity_rigs import Rig, display_grid
from live2d_pose.rig.filter import TUNING

log = logging.getLogger("live2d_pose.bench.fidelity")

# Below 0.3 Hz the search keeps finding (slightly) lower jitter, but a channel
# that stops moving then creeps the last fraction of the way for seconds, a
# defect these figures do not see: 0.3 Hz is the floor (the gain below it
# measured at most 0.03 of the jitter ratio for the head, 0.2 for brows).
MIN_CUTOFFS = (0.3, 0.5, 0.8, 1.2, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0)
# wide: a quaternion component moves ~1/115 as fast as the same turn in degrees
BETAS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 150.0, 200.0, 300.0)
D_CUTOFFS = (0.5, 1.0, 2.0, 4.0, 8.0)
KEEPS = tuple(np.linspace(0.0, 0.95, 39))


def _shown(ev: Evaluation, per_result: Mapping[str, Mapping[str, np.ndarray]], how: str) -> dict:
    """input -> channel -> what a 60 Hz display draws of per-result values."""
    out = {}
    for name, run in ev.runs.items():
        grid = display_grid(run.t, REFERENCE_RATE)
        out[name] = {ch: fm.drawn(run.t, v, grid, how) for ch, v in per_result[name].items()}
    return out


def _kalidokit_curve(ev: Evaluation, channels) -> list[tuple[float, float, float, float]]:
    """(keep, lag, jitter, roughness) of KalidoKit's demo rule for these channels at 60 Hz."""
    curve = []
    for keep in KEEPS:
        video, still = ev.kalidokit_at(channels, keep)
        curve.append(
            (
                keep,
                ev.lag(channels, "", REFERENCE_RATE, values=video),
                ev.jitter(channels, "", values=still),
                ev.roughness(channels, "", values=video),
            )
        )
    return curve


def _at_lag(curve, lag: float, column: int) -> float:
    lags = np.array([c[1] for c in curve])
    vals = np.array([c[column] for c in curve])
    order = np.argsort(lags)
    return float(np.interp(lag, lags[order], vals[order]))


def _eye_ok(ev: Evaluation, shown: Mapping[str, Mapping[str, np.ndarray]]) -> bool:
    b = ev.blinks("", REFERENCE_RATE, values={n: {**ev.shown[(n, REFERENCE_RATE)].raw, **v} for n, v in shown.items()})
    return b["closures"][0] == b["closures"][1] and b["winks"][0] == b["winks"][1]


def tune_kind(ev: Evaluation, kind: str, channels: tuple[str, ...], how: str = "hold") -> dict:
    curve = _kalidokit_curve(ev, channels)
    use_jitter = max(c[2] for c in curve) > 1e-9
    settings = list(itertools.product(MIN_CUTOFFS, BETAS, D_CUTOFFS))
    per_setting = ev.rig.with_tunings(ev.recordings, kind, settings, channels)
    best = None
    for setting, per_result in zip(settings, per_setting):
        shown = _shown(ev, per_result, how)
        video = {n: shown[n] for n in ev.video}
        still = {n: shown[n] for n in ev.still}
        lag = ev.lag(channels, "", REFERENCE_RATE, values=video)
        if not math.isfinite(lag) or lag > HEAD_LAG_MAX_MS:
            continue
        if kind == "eye" and not _eye_ok(ev, shown):
            continue
        jitter = ev.jitter(channels, "", values=still)
        rough = ev.roughness(channels, "", values=video)
        anchor = _at_lag(curve, lag, 2 if use_jitter else 3)
        score = (jitter if use_jitter else rough) / anchor if anchor > 0 else math.inf
        if best is None or (score, rough) < (best["score"], best["roughness"]):
            best = {
                "setting": setting,
                "lag_ms": lag,
                "jitter": jitter,
                "roughness": rough,
                "score": score,
                "measure": "jitter" if use_jitter else "roughness",
                "kalidokit_at_lag": anchor,
            }
    return best or {"setting": None}


def main(recordings: Mapping[str, dict], rig: Rig, rates) -> int:
    ev = Evaluation(rig, recordings, tuple(rates))
    entries = {}
    for kind, channels in rig.spec.tuned_kinds().items():
        log.info(
            "tuning %s (%s): %d settings", kind, ", ".join(channels), len(MIN_CUTOFFS) * len(BETAS) * len(D_CUTOFFS)
        )
        best = tune_kind(ev, kind, tuple(channels))
        if best["setting"] is None:
            print(f"{kind}: no setting keeps the lag <= {HEAD_LAG_MAX_MS} ms")
            continue
        min_cutoff, beta, d_cutoff = best["setting"]
        now = TUNING[kind]
        print(
            f"{kind:8s} minCutoff {min_cutoff:5g} beta {beta:6g} dCutoff {d_cutoff:4g} | lag {best['lag_ms']:5.1f} ms, "
            f"{best['measure']} {best[best['measure']]:.4g} = {best['score']:.2f} x KalidoKit's at that lag "
            f"| now: {now.min_cutoff:g} / {now.beta:g} / {now.d_cutoff:g}"
        )
        entries[kind] = {"minCutoff": min_cutoff, "beta": beta, "dCutoff": d_cutoff}
    print(json.dumps(entries, indent=1))
    return 0
