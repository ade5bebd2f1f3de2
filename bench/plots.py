"""PNG plots of a benchmark run (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_all(document: dict, runs: list[dict], out: Path, stamp: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    shown = [r for r in runs if r["group"] != "scaling" and r.get("_samples")]
    if not shown:  # a scaling-only run: show its largest step
        shown = [r for r in runs if r.get("_samples")][-1:]

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in shown:
        samples = np.asarray(r["_samples"])
        ax.plot(samples[:, 0] / 1000, samples[:, 1], ".", markersize=2, alpha=0.5, label=r["name"])
    ax.set_xlabel("time in the measured window (s)")
    ax.set_ylabel("latency ingest → viewer (ms)")
    ax.set_title("Latency over time")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(markerscale=6)
    made.append(_save(fig, out / f"latency-time-{stamp}.png"))

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in shown:
        values = np.sort(np.asarray(r["_samples"])[:, 1])
        ax.plot(values, np.arange(1, values.size + 1) / values.size, label=r["name"])
    face_bares = [
        b
        for b in document.get("bare", [])
        if b.get("tracks", ["face"]) == ["face"] and b.get("media", "face") == "face"
    ]
    paced = next((b for b in face_bares if b["fps"]), None)
    if paced:
        ax.axvline(
            paced["decode_infer_ms"]["p50"],
            color="grey",
            linestyle="--",
            label=f"bare decode+inference p50 ({paced['decode_infer_ms']['p50']:.1f} ms)",
        )
    ax.set_xlabel("latency ingest → viewer (ms)")
    ax.set_ylabel("fraction of frames")
    ax.set_title("Latency CDF")
    ax.grid(alpha=0.3)
    ax.legend()
    made.append(_save(fig, out / f"latency-cdf-{stamp}.png"))

    scaling = sorted((r for r in runs if r["group"] == "scaling"), key=lambda r: r["workers"])
    bares = sorted((b for b in face_bares if not b["fps"]), key=lambda b: b["workers"])
    if scaling or bares:
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for affinity in (True, False):
            points = [r for r in scaling if r["affinity"] == affinity]
            if points:
                ax.plot(
                    [r["workers"] for r in points],
                    [r["delivered_fps"] for r in points],
                    "o-",
                    label="pipeline" + ("" if affinity else " (no affinity)"),
                )
        if bares:
            ax.plot(
                [b["workers"] for b in bares],
                [b["throughput_fps"] for b in bares],
                "s--",
                label="bare decode+MediaPipe",
            )
        ax.set_xlabel("landmarker processes (W), S = W streams flooding")
        ax.set_ylabel("frames per second, all streams")
        ax.set_title("Throughput vs workers")
        ax.set_ylim(bottom=0)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
        made.append(_save(fig, out / f"throughput-{stamp}.png"))
    return made


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
