"""The gateway's settings: each field is a --flag and a LIVE2D_POSE_* variable (live2d_pose/config.py)."""

from __future__ import annotations

from dataclasses import dataclass

from live2d_pose.config import MODEL_HELP, REPO_DIR, CommonConfig, CurveServerConfig, setting

DEFAULT_WEB_ROOT = REPO_DIR / "web" / "dist"
DEFAULT_CUBISM_CORE_URL = "https://cubism.live2d.com/sdk-web/cubismcore/live2dcubismcore.min.js"


@dataclass(frozen=True)
class GatewayConfig(CurveServerConfig, CommonConfig):
    host: str = setting(
        "127.0.0.1",
        "address the HTTP/WebSocket server listens on (0.0.0.0: every interface, for viewers on other hosts)",
        short="-i",
    )
    http_port: int = setting(8080, "port of the viewer page, /ws, /streams, /healthz, /metrics")
    results_bind: str = setting(
        "tcp://127.0.0.1:5556",
        "ZeroMQ endpoint ingest pushes results and stream events to (tcp://*:5556: ingest on another host)",
    )
    web_root: str = setting(str(DEFAULT_WEB_ROOT), "folder of the built viewer page")
    model: str = setting("", MODEL_HELP)
    cubism_core_url: str = setting(DEFAULT_CUBISM_CORE_URL, "URL the viewer loads Live2D Cubism Core from")
    allow_core_param: bool = setting(False, "let the page's ?core= parameter choose the Cubism Core URL")
    viewer_token: str = setting("", "shared secret viewers must send as ?token= (empty: none)", secret=True)
    allowed_origins: str = setting(
        "",
        "web pages of other sites (Origins, comma list: http://host:port) that may open /ws; pages "
        "this gateway serves always may, and clients without an Origin (OBS, outputs); *: any",
    )
    max_viewers: int = setting(64, "most viewers connected at once")
    # Idle and greedy clients: neither can hold every slot.
    max_viewers_per_client: int = setting(
        32,
        "most viewers connected at once from one address (0: no limit); behind a reverse proxy "
        "all viewers share its address: raise this there and limit per client in the proxy",
    )
    viewer_idle_timeout: float = setting(
        60.0,
        "a viewer of a ?stream= that is not live for this long (seconds) is closed (no_stream, "
        "1013: the page connects again); 0: never",
    )
    stream_timeout: float = setting(5.0, "a stream without results this long (seconds) is inactive")
    # Takes (docs/recording.md) and played streams (docs/protocol.md, "Played streams").
    record_dir: str = setting(
        "",
        "record every stream to this folder, one take per stream from its start to its end, named by "
        "stream and start time; takes a crash cut short there are recovered at start; empty: off",
    )
    record_formats: str = setting("vrma,bvh", "the files of each take: vrma, bvh or both (comma list)")
    max_takes: int = setting(2, "takes the viewer page may record at once (POST /record); 0: none")
    max_take_seconds: float = setting(600.0, "a take the page records stops by itself after this long")
    camera_token: str = setting(
        "",
        "shared secret a program publishing a stream here (live2d-pose play, /publish) must send as "
        "?token=; give it ingest's camera token (the same LIVE2D_POSE_CAMERA_TOKEN)",
        secret=True,
    )
    max_played: int = setting(8, "streams played at once (live2d-pose play); 0: none")
