"""The landmarker's settings: each field is a --flag and a LIVE2D_POSE_* variable (live2d_pose/config.py).

Each tracker's model and limit settings are made from its row of the tracker table
(live2d_pose/trackers.json): --face-model, --face-model-sha256, --max-faces, and so on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from live2d_pose.config import CommonConfig, TrackerLimits, setting
from live2d_pose.imageinfo import DEFAULT_MAX_SCAN_PIXELS
from live2d_pose.trackers import TRACKERS

# The bundled models ship in this folder, so they are found the same way in a checkout, an
# installed wheel and a container.
MODELS_DIR = Path(__file__).resolve().parent


def _tracker_models() -> list[tuple[str, type, Any]]:
    """Each tracker's model file and its checksum (face_model, face_model_sha256 ...)."""
    fields: list[tuple[str, type, Any]] = []
    for t in TRACKERS.values():
        flag = "--" + t.model_setting.replace("_", "-")
        fields.append(
            (
                t.model_setting,
                str,
                setting(
                    str(MODELS_DIR / t.model_file), f"MediaPipe {t.name} model, a .task file (bundled: {t.model_file})"
                ),
            )
        )
        fields.append(
            (
                t.model_setting + "_sha256",
                str,
                setting("", f"expected sha256 of {flag} (default: checked only for the bundled model)"),
            )
        )
    return fields


# Each tracker's model settings, one set per row of the tracker table.
TrackerModels: Any = dataclasses.make_dataclass("TrackerModels", _tracker_models(), frozen=True)


@dataclass(frozen=True)
class LandmarkerConfig(TrackerModels, TrackerLimits, CommonConfig):
    ingest: str = setting("tcp://127.0.0.1:5555", "ZeroMQ endpoint of ingest (results go back to it)")
    trackers: str = setting(",".join(TRACKERS), "trackers this worker runs (ingest gives it only those lanes)")
    stream_idle_timeout: float = setting(10.0, "seconds after which an idle lane's instance is closed")
    decode_timeout: float = setting(
        0.5, "a frame whose decoding takes longer (seconds) gets error decode_timeout; the decode is killed"
    )
    heartbeat_interval: float = setting(0.25, "seconds between heartbeats to ingest")
    ingest_timeout: float = setting(2.0, "ingest silent this long (seconds): reconnect")
    max_pixels: int = setting(3840 * 2160, "largest image decoded, width x height")
    max_scan_pixels: int = setting(
        DEFAULT_MAX_SCAN_PIXELS,
        "JPEG decode budget, scans x width x height (as ingest's; a frame over it is refused before decoding)",
    )
    decode_max_pixels: int = setting(
        1920 * 1080,
        "a larger frame is decoded at 1/2, 1/4 or 1/8 scale, the first that fits (cheap for "
        "JPEG; MediaPipe's models see 256 pixels or less); 0: always full size",
    )
    # Capacity: one MediaPipe instance per lane, measured at start; ingest seats no more lanes here than fit.
    memory_budget_mb: float = setting(
        0.0,
        "memory this worker may fill with MediaPipe instances, in MB (0: 80 percent of the memory "
        "free at start, split over the host's cores; in a container, of what its limit leaves)",
    )
    max_instances: int = setting(
        64, "MediaPipe instances (lanes) this worker holds at most, whatever the memory (each runs a few threads)"
    )
    mediapipe_metrics: bool = setting(
        False,
        "let MediaPipe send its usage metrics (which task ran, how long and how fast; no images "
        "or landmarks) to Google, play.googleapis.com; off: they never leave this machine "
        '(docs/security.md, "Privacy")',
    )
    worker_name: str = setting("", "name shown in logs and metrics (default: host-pid)")
    health_file: str = setting("", "file touched on every heartbeat (container health checks)")
    curve_server_key: str = setting("", "CurveZMQ public key (Z85 or server.key file) of ingest; empty: plaintext")
    curve_client_key_file: str = setting(
        "",
        "this worker's CurveZMQ key pair (live2d-pose keys DIR --name NAME: the .key_secret "
        "file), for servers with an allow-list; empty: a fresh pair per start",
    )
