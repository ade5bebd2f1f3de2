"""`live2d-pose landmarker`: what must be set before MediaPipe loads, then the worker.

MediaPipe reads its proxy settings when its library loads, so the usage metrics'
switch (mediapipe_metrics.py) is applied here, before anything imports MediaPipe.
"""

from __future__ import annotations

from live2d_pose.landmarker import mediapipe_metrics
from live2d_pose.landmarker.settings import LandmarkerConfig


def main(config: LandmarkerConfig) -> int:
    mediapipe_metrics.configure(config.mediapipe_metrics)  # before MediaPipe loads
    from live2d_pose.landmarker.worker import main as run

    return run(config)
