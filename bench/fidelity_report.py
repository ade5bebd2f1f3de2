"""Tables and the plot of the fidelity benchmark (fidelity.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

GROUP_UNITS = {"head": "°", "body": "°"}


def _f(x, digits=3) -> str:
    if isinstance(x, str):
        return x
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:.0f}"


def _ms(x) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.0f}"


def markdown(result: dict) -> str:
    rates = [f"{r:g}" for r in result["rates"]]
    lines = []
    for index, (name, rig) in enumerate(result["rigs"].items()):
        lines += [f"**Rig `{name}`** ({rig['about']})", ""]
        if index:  # the first rig gets every table; the others their targets
            lines += _targets(rig)
            continue
        lines += [
            "| group | lag ms, ours at "
            + " / ".join(rates)
            + " Hz | lag ms, KalidoKit demo at "
            + " / ".join(rates)
            + " Hz | lag ms, previous page at "
            + " / ".join(rates)
            + " Hz |",
            "| --- | --- | --- | --- |",
        ]
        for g, v in rig["groups"].items():
            lag = v["lag_ms"]
            lines.append(
                f"| {g} | "
                + " | ".join(" / ".join(_ms(lag[sm][r]) for r in rates) for sm in ("ours", "kalidokit", "before"))
                + " |"
            )
        lines += [
            "",
            "| group | still-face jitter (SD): raw | ours | KalidoKit demo | KalidoKit at our lag "
            "(keep) | ours ÷ KalidoKit at our lag | roughness while moving (/s²): raw | ours | "
            "KalidoKit demo | KalidoKit at our lag |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for g, v in rig["groups"].items():
            j, r = v["jitter"], v["roughness"]
            ratio = j["ours"] / j["kalidokit_equal_lag"] if j["kalidokit_equal_lag"] else math.nan
            unit = GROUP_UNITS.get(g.split()[0], "")
            lines.append(
                f"| {g} | {_f(j['raw'])}{unit} | {_f(j['ours'])}{unit} | {_f(j['kalidokit'])}{unit} | "
                f"{_f(j['kalidokit_equal_lag'])}{unit} ({_f(v['kalidokit_equal_lag_keep'], 2)}) | "
                f"{_f(ratio, 2)} | {_f(r['raw'])} | {_f(r['ours'])} | {_f(r['kalidokit'])} | "
                f"{_f(r['kalidokit_equal_lag'])} |"
            )
        lines += [
            "",
            "| eye closures kept (blendshape > 0.5 → avatar < 0.3) | " + " | ".join(f"{r} Hz" for r in rates) + " |",
            "| --- |" + " --- |" * len(rates),
        ]
        for sm, label in (("ours", "ours"), ("kalidokit", "KalidoKit demo")):
            b = rig["blinks"][sm]
            lines.append(f"| blinks, {label} | " + " | ".join("{}/{}".format(*b[r]["closures"]) for r in rates) + " |")
            lines.append(
                f"| winks (other eye stays ≥ 0.9), {label} | "
                + " | ".join("{}/{}".format(*b[r]["winks"]) for r in rates)
                + " |"
            )
        lines += [
            "",
            "| drawing between results (head, 60 Hz) | lag ms | jitter | roughness /s² | overshoot, 99th percentile |",
            "| --- | --- | --- | --- | --- |",
        ]
        for how, d in rig["groups"].get("head", {}).get("drawing", {}).items():
            lines.append(
                f"| {how} | {_ms(d['lag_ms'])} | {_f(d['jitter'])}° | {_f(d['roughness'])} | "
                f"{_f(d['overshoot_p99'])}° |"
            )
        lines += [""] + _targets(rig)
    return "\n".join(lines) + "\n"


def _targets(rig: dict) -> list[str]:
    lines = ["| target | value | met |", "| --- | --- | --- |"]
    for label, (value, ok) in rig["targets"].items():
        lines.append(f"| {label} | {_f(value)} | {'yes' if ok else '**no**'} |")
    return lines + [""]


def update_docs(path: Path, begin: str, end: str, table: str) -> None:
    text = path.read_text(encoding="utf-8")
    if begin not in text or end not in text:
        raise SystemExit(f"{path}: markers {begin!r} ... {end!r} not found")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n\n{table}\n{end}{tail}", encoding="utf-8")


def plot(evaluation, report: dict, path: Path) -> None:
    """Head pitch moving, head yaw still, an eye through a one-result blink, head lag against display rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    colors = {"raw": "#999999", "ours": "#1f77b4", "kalidokit": "#d62728", "before": "#2ca02c"}
    labels = {"raw": "unfiltered rig", "ours": "ours", "kalidokit": "KalidoKit demo", "before": "previous page"}

    def trace(ax, name, channel, title, unit, span=None):
        s = evaluation.shown.get((name, 60.0))
        if s is None or channel not in s.raw:
            ax.set_visible(False)
            return
        t = (s.grid - s.grid[0]) / 1000.0
        keep = (t >= span[0]) & (t <= span[1]) if span else np.ones(len(t), bool)
        ax.step(t[keep], s.raw[channel][keep], where="post", color=colors["raw"], label=labels["raw"], lw=1)
        for sm in ("kalidokit", "ours"):
            ax.step(t[keep], s.by[sm][channel][keep], where="post", color=colors[sm], label=labels[sm], lw=1.4)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("s")
        ax.set_ylabel(unit)
        ax.legend(fontsize=8)

    trace(
        axes[0], "gesture", "ParamAngleY", "head pitch moving (gesture_video.mp4), 60 Hz", "ParamAngleY (°)", (1.8, 3.6)
    )
    trace(axes[1], "still", "ParamAngleX", "head yaw, still photo + noise, 60 Hz", "ParamAngleX (°)", (1.0, 5.0))
    trace(
        axes[2],
        "single_face_15b",
        evaluation.rig.spec.eyes[0]["eyeBlinkRight"],
        "an eye through a one-result blink (15 fps camera)",
        "openness",
        (0.6, 1.6),
    )
    ax = axes[3]
    rates = [f"{r:g}" for r in evaluation.rates]
    lag = report["groups"].get("head", {}).get("lag_ms", {})
    x = np.arange(len(rates))
    for i, sm in enumerate(("ours", "kalidokit", "before")):
        ax.bar(
            x + (i - 1) * 0.27,
            [lag.get(sm, {}).get(r, np.nan) for r in rates],
            0.27,
            color=colors[sm],
            label=labels[sm],
        )
    ax.set_xticks(x, [f"{r} Hz" for r in rates])
    ax.set_ylabel("head lag, ms")
    ax.set_title("head lag against the display's refresh rate", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, metadata={"Software": None})  # no version stamp: the same figures, the same file
    plt.close(fig)
