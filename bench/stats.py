"""Small statistics helpers for the benchmark (no numpy needed by callers)."""

from __future__ import annotations

import numpy as np


def percentiles(values, points=(50, 95, 99)) -> dict:
    """{"n", "p50", "p95", "p99", "max", "mean"} in the values' unit, rounded to 0.01."""
    if len(values) == 0:
        return {"n": 0, **{f"p{p}": None for p in points}, "max": None, "mean": None}
    array = np.asarray(values, dtype=float)
    out = {"n": int(array.size)}
    for p, v in zip(points, np.percentile(array, points)):
        out[f"p{p}"] = round(float(v), 2)
    out["max"] = round(float(array.max()), 2)
    out["mean"] = round(float(array.mean()), 2)
    return out
