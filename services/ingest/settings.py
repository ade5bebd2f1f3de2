"""Ingest's settings: each field is a --flag and a LIVE2D_POSE_* variable (live2d_pose/config.py)."""

from __future__ import annotations

from dataclasses import dataclass

from live2d_pose.config import CommonConfig, CurveServerConfig, setting
from live2d_pose.imageinfo import DEFAULT_MAX_SCAN_PIXELS
from live2d_pose.trackers import TRACKERS


@dataclass(frozen=True)
class IngestConfig(CurveServerConfig, CommonConfig):
    host: str = setting(
        "127.0.0.1",
        "address the camera WebSocket listens on (0.0.0.0: every interface, for cameras on other hosts)",
        short="-i",
    )
    port: int = setting(8765, "port of the camera WebSocket (paths /image and /)", short="-p")
    workers_bind: str = setting(
        "tcp://127.0.0.1:5555",
        "ZeroMQ endpoint the landmarker pool connects to (tcp://*:5555: workers on other hosts; add CurveZMQ)",
    )
    gateway: str = setting("tcp://127.0.0.1:5556", "ZeroMQ endpoint of the gateway (results, stream events)")
    viewer_url: str = setting(
        "", "viewer URL announced to cameras (default: the host the camera reached, on --viewer-port)"
    )
    viewer_port: int = setting(8080, "the gateway's HTTP port, for the default --viewer-url")
    camera_token: str = setting("", "shared secret cameras must send as ?token= (empty: none)", secret=True)
    allowed_origins: str = setting(
        "",
        "web pages (Origins, comma list: http://host:port) that may open the camera socket, such "
        "as a browser camera page; empty: none, *: any. Cameras send no Origin and always pass",
    )
    max_frame_bytes: int = setting(4 * 1024 * 1024, "largest encoded frame accepted, in bytes")
    max_pixels: int = setting(3840 * 2160, "largest image accepted, width x height")
    max_scan_pixels: int = setting(
        DEFAULT_MAX_SCAN_PIXELS,
        "JPEG decode budget, scans x width x height: a progressive JPEG "
        "decodes in one pass per scan (default: 16 scans of 3840x2160)",
    )
    max_text_bytes: int = setting(4096, "largest text message accepted from a camera")
    max_streams: int = setting(32, "most cameras connected at once")
    # Idle and greedy clients: neither can hold every slot.
    max_streams_per_client: int = setting(
        16,
        "most cameras connected at once from one address (0: no limit); behind a reverse proxy "
        "all cameras share its address: raise this there and limit per client in the proxy",
    )
    camera_idle_timeout: float = setting(
        30.0,
        "a camera that sends no frame for this long (seconds) is closed (idle_timeout, 1013: it "
        "may come back); 0: never",
    )
    handshake_timeout: float = setting(
        10.0, "seconds from connecting to sending imageSize; slower connections are closed"
    )
    max_handshakes: int = setting(
        128,
        "connections at once that have not finished the handshake (HTTP requests included); one more closes the oldest",
    )
    max_partial_bytes: int = setting(
        64 * 1024 * 1024,
        "memory all unfinished incoming messages may hold together, in bytes; "
        "over it the connection holding most is closed (busy, 1013)",
    )
    max_fps: float = setting(
        120.0,
        "frames per second read from each camera; a faster camera is read no faster (TCP backpressure slows it down)",
    )
    ping_interval: float = setting(10.0, "seconds between keep-alive pings to each camera")
    ping_timeout: float = setting(
        20.0,
        "a camera that leaves a ping unanswered this long (seconds) is "
        "dropped; a throttled flood's pongs queue behind its frames",
    )
    track: str = setting("face", f"trackers for cameras that do not say track= (comma list of {', '.join(TRACKERS)})")
    replicas: str = setting(
        "",
        "lanes of these trackers run on several workers at once, taking alternate frames "
        "(e.g. pose=2: a camera can go past one core for pose); default 1 each",
    )
    frame_timeout: float = setting(
        3.0, "a frame a worker holds this long (seconds) is lost; the worker is dropped, its lanes move"
    )
    quarantine_after: int = setting(
        3, "close a stream whose frames cost a worker (lost, late, decode over time) this many times in a row"
    )
    heartbeat_interval: float = setting(0.25, "seconds between heartbeats to workers")
    worker_timeout: float = setting(
        0.75, "a worker silent this long (seconds, 3 heartbeats) is declared dead; checked every heartbeat"
    )
    stream_affinity: bool = setting(True, "keep each stream on one worker (tracking state carries over)")
    worker_prefetch: int = setting(
        1,
        "frames a worker may hold at once; 2 trades up to one inference of latency for "
        "throughput when the pool is saturated (docs/performance.md)",
    )
    curve_server_key: str = setting(
        "", "gateway's CurveZMQ public key or key file (default: from --curve-secret-key-file)"
    )
