"""The benchmark's VMC scenario runs and reports its shape (never a timing assertion)."""

from __future__ import annotations

from live2d_pose.bench import outputs as output_bench
from live2d_pose.testing.frames import astronaut_frames


def test_vmc_scenario_smoke(tmp_path):
    runs = output_bench.run(["vmc"], warmup=0.5, duration=1.5, log_dir=tmp_path, extra_env={},
                            frames={"face": astronaut_frames(10)})
    (result,) = runs
    assert result["name"] == "vmc-1x30" and result["exit_code"] == 0
    assert result["bundles"] > 0 and result["received_in_window"] > 0
    assert set(result["latency_ms"]) == {"p50", "p95", "p99"} and result["latency_samples"] > 0
    assert result["vmc_cpu_percent"] >= 0 and result["other_cpu_percent"] >= 0
    table = output_bench.markdown_table(runs)
    assert "| vmc-1x30 |" in table and "gateway → OSC p50" in table


def test_holistic_vmc_scenario_smoke(tmp_path):
    """Face, pose and hands tracked: vmc gets one result per tracker per frame and sends each."""
    from live2d_pose.testing import media

    frames = media.video_jpeg_frames(media.media_path("gesture_video.mp4"), size=(640, 360), max_frames=40)
    runs = output_bench.run(["vmc-holistic"], warmup=1.0, duration=2.0, log_dir=tmp_path, extra_env={},
                            frames={"gesture": frames})
    (result,) = runs
    assert result["name"] == "vmc-holistic-1x30" and result["tracks"] == ["face", "pose", "hands"]
    assert result["exit_code"] == 0 and result["bundles"] > 0 and result["latency_samples"] > 0
    assert "| vmc-holistic-1x30 |" in output_bench.markdown_table(runs)
