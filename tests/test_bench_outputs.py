"""The benchmark's VMC scenario runs and reports its shape (never a timing assertion)."""

from __future__ import annotations

from live2d_pose.bench import outputs as output_bench
from live2d_pose.testing.frames import astronaut_frames


def test_vmc_scenario_smoke(tmp_path):
    runs = output_bench.run(["vmc"], warmup=0.5, duration=1.5, log_dir=tmp_path, extra_env={},
                            frames=astronaut_frames(10))
    (result,) = runs
    assert result["name"] == "vmc-1x30" and result["exit_code"] == 0
    assert result["bundles"] > 0 and result["received_in_window"] > 0
    assert set(result["latency_ms"]) == {"p50", "p95", "p99"} and result["latency_samples"] > 0
    assert result["vmc_cpu_percent"] >= 0 and result["other_cpu_percent"] >= 0
    table = output_bench.markdown_table(runs)
    assert "| vmc-1x30 |" in table and "gateway → OSC p50" in table
