"""The benchmark's VMC and motion scenarios run and report their shape (never a timing assertion)."""

from __future__ import annotations

from live2d_pose.bench import outputs as output_bench
from live2d_pose.testing.frames import astronaut_frames


def test_vmc_scenario_smoke(tmp_path):
    runs = output_bench.run(
        ["vmc"], warmup=0.5, duration=1.5, log_dir=tmp_path, extra_env={}, frames={"face": astronaut_frames(10)}
    )
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
    runs = output_bench.run(
        ["vmc-holistic"], warmup=1.0, duration=2.0, log_dir=tmp_path, extra_env={}, frames={"gesture": frames}
    )
    (result,) = runs
    assert result["name"] == "vmc-holistic-1x30" and result["tracks"] == ["face", "pose", "hands"]
    assert result["exit_code"] == 0 and result["bundles"] > 0 and result["latency_samples"] > 0
    assert "| vmc-holistic-1x30 |" in output_bench.markdown_table(runs)


def test_motion_scenario_smoke(tmp_path):
    """The gateway's rig: its cost per result, its CPU with 1 and a few viewers, motion against landmarks."""
    from live2d_pose.bench import motion as motion_bench

    (result,) = motion_bench.run(["motion"], warmup=0.5, duration=1.0, log_dir=tmp_path, extra_env={}, many=4, rounds=2)
    solve = result["solve"]
    assert solve["result_sets"] == 195 and solve["results"] == 585
    assert 0 < solve["per_result_ms"]["p50"] <= solve["per_set_ms"]["p50"]
    assert set(result["gateway_cpu_percent"]) == {"1", "4"} and all(
        v > 0 for v in result["gateway_cpu_percent"].values()
    )
    assert result["messages_per_s"]["1"] > 10, "the viewers got motion"
    assert result["viewers_served"] == 4 and result["messages_per_s"]["4, slowest"] > 0, "each of the crowd did"
    assert all(latency["p50"] > 0 for latency in result["first_viewer_latency_ms"].values())
    assert 0 < result["bytes_per_s"]["motion"] < result["bytes_per_s"]["landmarks"]
    table = motion_bench.markdown_table([result])
    assert "| motion-holistic-1x30 |" in table and "µs" in table


def test_overload_scenarios_run_and_report(tmp_path):
    """bench/overload.py in miniature: four face cameras for two seconds (the faces28 / faces40
    code; the crowd driver under every scenario is tests/system/test_overload.py's too), and the table;
    the shape of what they report, never a speed."""
    from live2d_pose.bench import overload

    faces = overload.run_one(
        overload.OverloadScenario("faces4", "faces", 4), warmup=0.5, duration=2.0, log_dir=tmp_path, extra_env={}
    )
    assert faces["served"] == 4 and faces["refused"] == {} and faces["results_per_s"] > 0
    assert faces["instances_built"] >= 4 and faces["workers_dead"] == 0
    leave = {
        "name": "leave30",
        "steady_fps": 15.0,
        "steady_worst_gap_s": 0.1,
        "refused": {},
        "workers_rss_mb": {"before": 300, "peak": 4000, "after": 320},
        "memory_back_after_s": 9.5,
    }
    table = overload.markdown_table([faces, leave])
    assert "| faces4 |" in table and "| 15.0, 0.1 | 300, 4000, 320 (9.5 s) |" in table
    assert overload.expand(["overload"]) == ["faces28", "faces40", "leave30", "flood4k"]
