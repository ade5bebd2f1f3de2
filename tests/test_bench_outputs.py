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


def test_overload_scenarios_run_and_report(tmp_path):
    """bench/overload.py in miniature: four face cameras for two seconds (the faces28 / faces40
    code; the crowd driver under every scenario is tests/test_overload.py's too), and the table;
    the shape of what they report, never a speed."""
    from live2d_pose.bench import overload

    faces = overload.run_one(overload.OverloadScenario("faces4", "faces", 4), warmup=0.5, duration=2.0,
                             log_dir=tmp_path, extra_env={})
    assert faces["served"] == 4 and faces["refused"] == {} and faces["results_per_s"] > 0
    assert faces["instances_built"] >= 4 and faces["workers_dead"] == 0
    leave = {"name": "leave30", "steady_fps": 15.0, "steady_worst_gap_s": 0.1, "refused": {},
             "workers_rss_mb": {"before": 300, "peak": 4000, "after": 320}, "memory_back_after_s": 9.5}
    table = overload.markdown_table([faces, leave])
    assert "| faces4 |" in table and "| 15.0, 0.1 | 300, 4000, 320 (9.5 s) |" in table
    assert overload.expand(["overload"]) == ["faces28", "faces40", "leave30", "flood4k"]
