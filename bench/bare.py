"""The bare ceiling: W processes each looping JPEG decode + MediaPipe, no sockets.

Each process builds the trackers the landmarker service builds (the same
registry, services/landmarker/trackers.py: VIDEO mode, the bundled models, the
same options), decodes the same JPEG frames with the same OpenCV call, and runs
each tracker's ``detect_for_video`` in turn on every frame. ``tracks`` picks the
trackers: ``("face",)`` is the face ceiling, ``("pose",)`` one tracker alone, and
``("face", "pose", "hands")`` the bare sequential holistic loop, which is what a
"one stream, one worker" design would do per frame. The processes start
together (a barrier) after a warm-up, so W of them compete for the cores the way
W landmarker services do. ``fps > 0`` paces one loop (a camera at that rate) to
measure the per-frame cost at low load; the pipeline's latency overhead is
judged against that.
"""

from __future__ import annotations

import multiprocessing as mp_
import time
from dataclasses import dataclass, field

import numpy as np

WARMUP_S = 1.0


@dataclass
class BareRun:
    workers: int
    fps: float  # 0: as fast as possible (saturated)
    duration_s: float
    tracks: tuple[str, ...] = ("face",)
    frames: int = 0
    throughput_fps: float = 0.0
    decode_ms: list[float] = field(default_factory=list)
    infer_ms: list[float] = field(default_factory=list)  # all trackers of a frame together
    per_track_ms: dict[str, list[float]] = field(default_factory=dict)
    found: int = 0  # frames where the first tracker found something

    def summary(self) -> dict:
        from live2d_pose.bench.stats import percentiles

        total = [d + i for d, i in zip(self.decode_ms, self.infer_ms)]
        return {
            "workers": self.workers,
            "fps": self.fps,
            "tracks": list(self.tracks),
            "duration_s": round(self.duration_s, 2),
            "frames": self.frames,
            "throughput_fps": round(self.throughput_fps, 1),
            "face_rate": round(self.found / self.frames, 3) if self.frames else 0.0,
            "decode_ms": percentiles(self.decode_ms),
            "inference_ms": percentiles(self.infer_ms),
            "decode_infer_ms": percentiles(total),
            "per_track_inference_ms": {t: percentiles(v) for t, v in self.per_track_ms.items()},
        }


def _loop(
    frames: list[bytes], tracks: tuple[str, ...], duration: float, fps: float, barrier, queue, imread_flag: int | None
) -> None:
    import os

    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's start-up chatter
    from live2d_pose.config import from_sources
    from live2d_pose.landmarker.settings import LandmarkerConfig
    from live2d_pose.landmarker import mediapipe_metrics

    mediapipe_metrics.configure(from_sources(LandmarkerConfig).mediapipe_metrics)  # as the workers do
    import cv2
    import mediapipe as mp

    from live2d_pose.landmarker import trackers as registry

    flag = imread_flag if imread_flag is not None else getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR)
    convert = flag == cv2.IMREAD_COLOR
    built = registry.build(tracks, LandmarkerConfig())
    instances = {name: tracker.open() for name, tracker in built.items()}
    buffers = [np.frombuffer(f, np.uint8) for f in frames]
    timestamp = 0
    decode_ms: list[float] = []
    infer_ms: list[float] = []
    per_track: dict[str, list[float]] = {name: [] for name in tracks}
    found = 0

    def one(index: int, record: bool) -> None:
        nonlocal timestamp, found
        t0 = time.perf_counter()
        image = cv2.imdecode(buffers[index % len(buffers)], flag)
        if convert:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        t1 = time.perf_counter()
        timestamp += 33
        first = None
        for name in tracks:  # one after another, as a single process must
            started = time.perf_counter()
            items = built[name].detect(
                instances[name], mp.Image(image_format=mp.ImageFormat.SRGB, data=image), timestamp
            )
            if record:
                per_track[name].append((time.perf_counter() - started) * 1000)
            first = items if first is None else first
        t2 = time.perf_counter()
        if record:
            decode_ms.append((t1 - t0) * 1000)
            infer_ms.append((t2 - t1) * 1000)
            found += bool(first)

    try:
        index, start = 0, time.perf_counter()
        while time.perf_counter() - start < WARMUP_S:
            one(index, False)
            index += 1
        barrier.wait()
        start = time.perf_counter()
        count = 0
        while (now := time.perf_counter()) - start < duration:
            if fps > 0:
                delay = start + count / fps - now
                if delay > 0:
                    time.sleep(delay)
            one(index, True)
            index += 1
            count += 1
        elapsed = time.perf_counter() - start
        queue.put((count, elapsed, decode_ms, infer_ms, per_track, found))
    finally:
        for name, instance in instances.items():
            built[name].close(instance)


def run_bare(
    frames: list[bytes],
    workers: int,
    duration: float,
    fps: float = 0.0,
    tracks: tuple[str, ...] = ("face",),
    imread_flag: int | None = None,
) -> BareRun:
    """W processes in parallel; returns their combined frames per second and stage times."""
    ctx = mp_.get_context("spawn")  # no forked MediaPipe/OpenCV threads
    barrier = ctx.Barrier(workers)
    queue = ctx.Queue()
    processes = [
        ctx.Process(target=_loop, args=(frames, tuple(tracks), duration, fps, barrier, queue, imread_flag), daemon=True)
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    run = BareRun(workers, fps, duration, tuple(tracks))
    rates = []
    try:
        for _ in processes:
            count, elapsed, decode_ms, infer_ms, per_track, found = queue.get(timeout=duration + 120)
            run.frames += count
            rates.append(count / elapsed)
            run.decode_ms += decode_ms
            run.infer_ms += infer_ms
            for name, values in per_track.items():
                run.per_track_ms.setdefault(name, []).extend(values)
            run.found += found
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    run.throughput_fps = sum(rates)
    return run
