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


def test_live_recording_bench_smoke(tmp_path):
    from live2d_pose.bench import recording_live

    result = recording_live.run(seconds=1.0, warmup=0.5, log_dir=tmp_path)
    for window in ("none", "gateway"):
        assert result[window]["gateway"] > 0
    assert result["client"]["gateway"] > 0 and result["client"]["record"] >= 0
    assert result["gateway_take"]["vrma_mb_per_min"] > 0 and result["gateway_take"]["bvh_mb_per_min"] > 0
    assert result["gateway_take"]["writer_cpu_s_per_min"] > 0
    assert (tmp_path / "client.vrma").exists() and (tmp_path / "client.bvh").exists()
    assert "| in the gateway (POST /record, up --record) |" in recording_live.markdown_table(result)
