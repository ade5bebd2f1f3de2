"""The bare ceiling: W processes each looping JPEG decode + MediaPipe, no sockets.

Each process builds the same FaceLandmarker the landmarker service builds
(VIDEO mode, blendshapes and matrices on, the bundled model), decodes the
same JPEG frames with the same OpenCV call, and runs ``detect_for_video`` in a
loop. The processes start together (a barrier) after a warm-up, so W of them
compete for the cores the way W landmarker services do. ``fps > 0`` paces one
loop (a camera at that rate) to measure the per-frame cost at low load; the
pipeline's latency overhead is judged against that.
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
    frames: int = 0
    throughput_fps: float = 0.0
    decode_ms: list[float] = field(default_factory=list)
    infer_ms: list[float] = field(default_factory=list)
    faces_found: int = 0

    def summary(self) -> dict:
        from live2d_pose.bench.stats import percentiles

        total = [d + i for d, i in zip(self.decode_ms, self.infer_ms)]
        return {"workers": self.workers, "fps": self.fps, "duration_s": round(self.duration_s, 2),
                "frames": self.frames, "throughput_fps": round(self.throughput_fps, 1),
                "face_rate": round(self.faces_found / self.frames, 3) if self.frames else 0.0,
                "decode_ms": percentiles(self.decode_ms), "inference_ms": percentiles(self.infer_ms),
                "decode_infer_ms": percentiles(total)}


def _loop(frames: list[bytes], model_path: str, duration: float, fps: float, barrier, queue,
          imread_flag: int | None) -> None:
    import os

    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's start-up chatter
    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    flag = imread_flag if imread_flag is not None else getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR)
    convert = flag == cv2.IMREAD_COLOR
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=model_path), running_mode=vision.RunningMode.VIDEO,
        num_faces=1, output_face_blendshapes=True, output_facial_transformation_matrixes=True)
    landmarker = vision.FaceLandmarker.create_from_options(options)
    buffers = [np.frombuffer(f, np.uint8) for f in frames]
    timestamp = 0
    decode_ms: list[float] = []
    infer_ms: list[float] = []
    faces = 0

    def one(index: int, record: bool) -> None:
        nonlocal timestamp, faces
        t0 = time.perf_counter()
        image = cv2.imdecode(buffers[index % len(buffers)], flag)
        if convert:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        t1 = time.perf_counter()
        timestamp += 33
        result = landmarker.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=image),
                                             timestamp)
        t2 = time.perf_counter()
        if record:
            decode_ms.append((t1 - t0) * 1000)
            infer_ms.append((t2 - t1) * 1000)
            faces += bool(result.face_landmarks)

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
        queue.put((count, elapsed, decode_ms, infer_ms, faces))
    finally:
        landmarker.close()


def run_bare(frames: list[bytes], workers: int, duration: float, fps: float = 0.0,
             model_path: str | None = None, imread_flag: int | None = None) -> BareRun:
    """W processes in parallel; returns their combined frames per second and stage times."""
    from live2d_pose.config import BUNDLED_FACE_MODEL

    model_path = model_path or str(BUNDLED_FACE_MODEL)
    ctx = mp_.get_context("spawn")  # no forked MediaPipe/OpenCV threads
    barrier = ctx.Barrier(workers)
    queue = ctx.Queue()
    processes = [ctx.Process(target=_loop, args=(frames, model_path, duration, fps, barrier, queue,
                                                 imread_flag), daemon=True) for _ in range(workers)]
    for process in processes:
        process.start()
    run = BareRun(workers, fps, duration)
    rates = []
    try:
        for _ in processes:
            count, elapsed, decode_ms, infer_ms, faces = queue.get(timeout=duration + 120)
            run.frames += count
            rates.append(count / elapsed)
            run.decode_ms += decode_ms
            run.infer_ms += infer_ms
            run.faces_found += faces
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    run.throughput_fps = sum(rates)
    return run
