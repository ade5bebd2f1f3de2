"""`live2d-pose bench` in its quickest form: real services, one worker, a second or two.

Checks the shape of what the benchmark writes (JSON keys, markdown table) and
that frames went through; never how fast: speed is the benchmark's report,
not a test's verdict.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("mediapipe")
pytest.importorskip("psutil")

from live2d_pose.bench import run


def test_quickest_bench_writes_json_and_markdown(tmp_path):
    argv = [
        "--quick",
        "--scenarios",
        "1x30,scaling",
        "--workers",
        "1",
        "--max-workers",
        "1",
        "--duration",
        "1.5",
        "--warmup",
        "0.5",
        "--bare-duration",
        "1",
        "--out",
        str(tmp_path),
        "--no-plots",
    ]
    assert run.main(argv) == 0

    document = json.loads((tmp_path / "latest.json").read_text())
    assert {"machine", "settings", "scenarios", "bare", "targets"} <= document.keys()
    assert document["machine"]["cores"] >= 1
    names = [s["name"] for s in document["scenarios"]]
    assert names == ["1x30", "scaling-w1"]
    for scenario in document["scenarios"]:
        assert scenario["delivered"] > 0 and scenario["delivered_fps"] > 0
        assert scenario["offered_fps"] >= scenario["delivered_fps"] * 0.5
        assert scenario["face_rate"] > 0.9  # the astronaut's face is found
        latency = scenario["latency_ms"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
        assert set(scenario["stages_ms"]) == {"ingest_queue", "transit", "decode", "inference", "gateway_delivery"}
        assert scenario["stages_ms"]["inference"]["p50"] > 0
        assert scenario["last_second_latency_ms"]["n"] > 0
        assert {"ingest", "gateway", "landmarker-1"} <= scenario["rss_mb"].keys()
        assert all(mb > 0 for mb in scenario["rss_mb"].values())
        assert scenario["dropped"] >= 0
        assert "throughput_ratio" in scenario and scenario["bare_fps"] > 0
    bare = {(b["workers"], bool(b["fps"])) for b in document["bare"]}
    assert bare == {(1, False), (1, True)}
    assert all(b["frames"] > 0 and b["decode_infer_ms"]["p50"] > 0 for b in document["bare"])
    assert {t["target"].split()[0] for t in document["targets"]} >= {"saturated", "1x30"}

    markdown = (tmp_path / "latest.md").read_text()
    assert "| scenario |" in markdown and "| 1x30 |" in markdown and "## Targets" in markdown


def test_holistic_bench_reports_lanes_and_bare_trackers(tmp_path):
    """The face+pose+hands scenario on one worker, with the bare runs it is compared with."""
    argv = [
        "--quick",
        "--scenarios",
        "holistic",
        "--holistic-workers",
        "1",
        "--duration",
        "1.5",
        "--warmup",
        "1",
        "--bare-duration",
        "1",
        "--out",
        str(tmp_path),
        "--no-plots",
    ]
    assert run.main(argv) == 0

    document = json.loads((tmp_path / "latest.json").read_text())
    (scenario,) = document["scenarios"]
    assert scenario["name"] == "holistic-w1" and scenario["tracks"] == ["face", "pose", "hands"]
    assert set(scenario["lanes"]) == {"face", "pose", "hands"}
    for lane in scenario["lanes"].values():
        assert lane["delivered"] > 0 and lane["latency_ms"]["p50"] > 0
        assert lane["bare_p50_ms"] > 0 and lane["p50_ratio_to_bare"] > 0
    assert scenario["holistic_fps"] > 0 and scenario["holistic_ratio_to_sequential"] > 0
    bare = {tuple(b["tracks"]): b for b in document["bare"]}
    assert set(bare) == {("face",), ("pose",), ("hands",), ("face", "pose", "hands")}
    assert all(b["media"] == "gesture" and b["frames"] > 0 for b in bare.values())
    assert set(bare[("face", "pose", "hands")]["per_track_inference_ms"]) == {"face", "pose", "hands"}
    markdown = (tmp_path / "latest.md").read_text()
    assert "| holistic-w1 | pose |" in markdown and "face+pose+hands" in markdown
