"""The recording benchmark runs and reports its shape (never a timing assertion)."""

from __future__ import annotations

from live2d_pose.bench import recording as recording_bench


def test_recording_bench_smoke():
    rows = recording_bench.run(["face", "full-body"], minutes=0.05, rate=30.0, fps=30.0)
    assert [r["take"] for r in rows] == ["face", "full-body"]
    for r in rows:
        assert r["states"] == 91 and r["vrma_mb_per_min"] > 0 and r["bvh_mb_per_min"] > 0
        assert r["journal_mb_per_min"] > 0 and r["record_cpu_percent"] >= 0 and r["close_cpu_s_per_min"] >= 0
        assert 0 <= r["resampling_deg"]["p50"] <= r["resampling_deg"]["max"] < 45
    table = recording_bench.markdown_table(rows)
    assert "| face | 30 |" in table and "| full-body | 30 |" in table
