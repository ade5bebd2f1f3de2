"""Settings for every service: frozen dataclasses filled from flags and environment.

Each field becomes a command-line flag (``--field-name``) and an environment
variable (``LIVE2D_POSE_FIELD_NAME``). A flag beats the environment, which
beats the default. The same names are used by docker-compose.yml and the
Kubernetes manifests, so a setting means the same thing everywhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TypeVar

from live2d_pose.imageinfo import DEFAULT_MAX_SCAN_PIXELS

ENV_PREFIX = "LIVE2D_POSE_"

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
# The model ships inside the landmarker package (services/landmarker/), so it is
# found the same way in a checkout, an installed wheel and a container.
MODELS_DIR = Path(importlib.util.find_spec("live2d_pose.landmarker").origin).parent
BUNDLED_FACE_MODEL = MODELS_DIR / "face_landmarker.task"
BUNDLED_FACE_MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
BUNDLED_POSE_MODEL = MODELS_DIR / "pose_landmarker_full.task"
BUNDLED_POSE_MODEL_SHA256 = "4eaa5eb7a98365221087693fcc286334cf0858e2eb6e15b506aa4a7ecdcec4ad"
BUNDLED_HAND_MODEL = MODELS_DIR / "hand_landmarker.task"
BUNDLED_HAND_MODEL_SHA256 = "fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1"
DEFAULT_WEB_ROOT = REPO_DIR / "web" / "dist"
DEFAULT_CUBISM_CORE_URL = "https://cubism.live2d.com/sdk-web/cubismcore/live2dcubismcore.min.js"
MODEL_HELP = ("the viewer's avatar: a VRM (.vrm) or a Live2D model (.model3.json), as a file or folder on "
              "this machine (the gateway serves it and the files it names) or an http(s) URL; "
              "empty: the built-in avatar")


def setting(default: Any, help: str, *, short: str | None = None, secret: bool = False):
    """A dataclass field that knows its help text (and optional short flag)."""
    return field(default=default, metadata={"help": help, "short": short, "secret": secret})


@dataclass(frozen=True)
class CommonConfig:
    log_level: str = setting("INFO", "logging level (DEBUG, INFO, WARNING, ERROR)")


@dataclass(frozen=True)
class IngestConfig(CommonConfig):
    host: str = setting("127.0.0.1", "address the camera WebSocket listens on (0.0.0.0: every interface, "
                                     "for cameras on other hosts)", short="-i")
    port: int = setting(8765, "port of the camera WebSocket (paths /image and /)", short="-p")
    workers_bind: str = setting("tcp://127.0.0.1:5555", "ZeroMQ endpoint the landmarker pool connects to "
                                                        "(tcp://*:5555: workers on other hosts; add CurveZMQ)")
    gateway: str = setting("tcp://127.0.0.1:5556", "ZeroMQ endpoint of the gateway (results, stream events)")
    viewer_url: str = setting("", "viewer URL announced to cameras (default: the host the camera "
                                  "reached, on --viewer-port)")
    viewer_port: int = setting(8080, "the gateway's HTTP port, for the default --viewer-url")
    camera_token: str = setting("", "shared secret cameras must send as ?token= (empty: none)", secret=True)
    allowed_origins: str = setting(
        "", "web pages (Origins, comma list: http://host:port) that may open the camera socket, such "
            "as a browser camera page; empty: none, *: any. Cameras send no Origin and always pass")
    max_frame_bytes: int = setting(4 * 1024 * 1024, "largest encoded frame accepted, in bytes")
    max_pixels: int = setting(3840 * 2160, "largest image accepted, width x height")
    max_scan_pixels: int = setting(
        DEFAULT_MAX_SCAN_PIXELS, "JPEG decode budget, scans x width x height: a progressive JPEG "
                                 "decodes in one pass per scan (default: 16 scans of 3840x2160)")
    max_text_bytes: int = setting(4096, "largest text message accepted from a camera")
    max_streams: int = setting(32, "most cameras connected at once")
    # Idle and greedy clients: neither can hold every slot.
    max_streams_per_client: int = setting(
        16, "most cameras connected at once from one address (0: no limit); behind a reverse proxy "
            "all cameras share its address: raise this there and limit per client in the proxy")
    camera_idle_timeout: float = setting(
        30.0, "a camera that sends no frame for this long (seconds) is closed (idle_timeout, 1013: it "
              "may come back); 0: never")
    handshake_timeout: float = setting(
        10.0, "seconds from connecting to sending imageSize; slower connections are closed")
    max_handshakes: int = setting(
        128, "connections at once that have not finished the handshake (HTTP requests included); "
             "one more closes the oldest")
    max_partial_bytes: int = setting(
        64 * 1024 * 1024, "memory all unfinished incoming messages may hold together, in bytes; "
                          "over it the connection holding most is closed (busy, 1013)")
    max_fps: float = setting(120.0, "frames per second read from each camera; a faster camera is read "
                                    "no faster (TCP backpressure slows it down)")
    ping_interval: float = setting(10.0, "seconds between keep-alive pings to each camera")
    ping_timeout: float = setting(20.0, "a camera that leaves a ping unanswered this long (seconds) is "
                                        "dropped; a throttled flood's pongs queue behind its frames")
    track: str = setting("face", "trackers for cameras that do not say track= (comma list of face, pose, hands)")
    replicas: str = setting(
        "", "lanes of these trackers run on several workers at once, taking alternate frames "
            "(e.g. pose=2: a camera can go past one core for pose); default 1 each")
    frame_timeout: float = setting(
        3.0, "a frame a worker holds this long (seconds) is lost; the worker is dropped, its lanes move")
    quarantine_after: int = setting(
        3, "close a stream whose frames cost a worker (lost, late, decode over time) this many times in a row")
    heartbeat_interval: float = setting(0.25, "seconds between heartbeats to workers")
    worker_timeout: float = setting(
        0.75, "a worker silent this long (seconds, 3 heartbeats) is declared dead; checked every heartbeat")
    stream_affinity: bool = setting(True, "keep each stream on one worker (tracking state carries over)")
    worker_prefetch: int = setting(
        1, "frames a worker may hold at once; 2 trades up to one inference of latency for "
           "throughput when the pool is saturated (docs/performance.md)")
    curve_secret_key_file: str = setting(
        "", "CurveZMQ server secret key file (live2d-pose keys); also ingest's identity toward the "
            "gateway; empty: plaintext ZeroMQ")
    curve_server_key: str = setting(
        "", "gateway's CurveZMQ public key or key file (default: from --curve-secret-key-file)")
    curve_allow: str = setting(
        "", "folder of the workers' CurveZMQ public keys (*.key) admitted; empty: any client that "
            "knows the server key")


@dataclass(frozen=True)
class LandmarkerConfig(CommonConfig):
    ingest: str = setting("tcp://127.0.0.1:5555", "ZeroMQ endpoint of ingest (results go back to it)")
    trackers: str = setting("face,pose,hands", "trackers this worker runs (ingest gives it only those lanes)")
    face_model: str = setting(str(BUNDLED_FACE_MODEL), "MediaPipe face_landmarker.task file")
    face_model_sha256: str = setting(
        "", "expected sha256 of --face-model (default: checked only for the bundled model)"
    )
    pose_model: str = setting(str(BUNDLED_POSE_MODEL), "MediaPipe pose_landmarker_*.task file")
    pose_model_sha256: str = setting(
        "", "expected sha256 of --pose-model (default: checked only for the bundled model)")
    hand_model: str = setting(str(BUNDLED_HAND_MODEL), "MediaPipe hand_landmarker.task file")
    hand_model_sha256: str = setting(
        "", "expected sha256 of --hand-model (default: checked only for the bundled model)")
    max_faces: int = setting(1, "faces tracked per frame")
    max_poses: int = setting(1, "bodies tracked per frame")
    max_hands: int = setting(2, "hands tracked per frame")
    stream_idle_timeout: float = setting(10.0, "seconds after which an idle lane's instance is closed")
    decode_timeout: float = setting(
        0.5, "a frame whose decoding takes longer (seconds) gets error decode_timeout; the decode is killed")
    heartbeat_interval: float = setting(0.25, "seconds between heartbeats to ingest")
    ingest_timeout: float = setting(2.0, "ingest silent this long (seconds): reconnect")
    max_pixels: int = setting(3840 * 2160, "largest image decoded, width x height")
    max_scan_pixels: int = setting(
        DEFAULT_MAX_SCAN_PIXELS, "JPEG decode budget, scans x width x height (as ingest's; a frame "
                                 "over it is refused before decoding)")
    decode_max_pixels: int = setting(
        1920 * 1080, "a larger frame is decoded at 1/2, 1/4 or 1/8 scale, the first that fits (cheap for "
                     "JPEG; MediaPipe's models see 256 pixels or less); 0: always full size")
    # Capacity: one MediaPipe instance per lane, measured at start; ingest seats no more lanes here than fit.
    memory_budget_mb: float = setting(
        0.0, "memory this worker may fill with MediaPipe instances, in MB (0: 80 percent of the memory "
             "free at start, split over the host's cores; in a container, of what its limit leaves)")
    max_instances: int = setting(64, "MediaPipe instances (lanes) this worker holds at most, whatever "
                                     "the memory (each runs a few threads)")
    mediapipe_metrics: bool = setting(
        False, "let MediaPipe send its usage metrics (which task ran, how long and how fast; no images "
               "or landmarks) to Google, play.googleapis.com; off: they never leave this machine "
               "(docs/security.md, \"Privacy\")")
    worker_name: str = setting("", "name shown in logs and metrics (default: host-pid)")
    health_file: str = setting("", "file touched on every heartbeat (container health checks)")
    curve_server_key: str = setting(
        "", "CurveZMQ public key (Z85 or server.key file) of ingest; empty: plaintext")
    curve_client_key_file: str = setting(
        "", "this worker's CurveZMQ key pair (live2d-pose keys DIR --name NAME: the .key_secret "
            "file), for servers with an allow-list; empty: a fresh pair per start")


@dataclass(frozen=True)
class GatewayConfig(CommonConfig):
    host: str = setting("127.0.0.1", "address the HTTP/WebSocket server listens on (0.0.0.0: every "
                                     "interface, for viewers on other hosts)", short="-i")
    http_port: int = setting(8080, "port of the viewer page, /ws, /streams, /healthz, /metrics")
    results_bind: str = setting("tcp://127.0.0.1:5556", "ZeroMQ endpoint ingest pushes results and stream "
                                                        "events to (tcp://*:5556: ingest on another host)")
    web_root: str = setting(str(DEFAULT_WEB_ROOT), "folder of the built viewer page")
    model: str = setting("", MODEL_HELP)
    cubism_core_url: str = setting(DEFAULT_CUBISM_CORE_URL, "URL the viewer loads Live2D Cubism Core from")
    allow_core_param: bool = setting(False, "let the page's ?core= parameter choose the Cubism Core URL")
    viewer_token: str = setting("", "shared secret viewers must send as ?token= (empty: none)", secret=True)
    allowed_origins: str = setting(
        "", "web pages of other sites (Origins, comma list: http://host:port) that may open /ws; pages "
            "this gateway serves always may, and clients without an Origin (OBS, outputs); *: any")
    max_viewers: int = setting(64, "most viewers connected at once")
    # Idle and greedy clients: neither can hold every slot.
    max_viewers_per_client: int = setting(
        32, "most viewers connected at once from one address (0: no limit); behind a reverse proxy "
            "all viewers share its address: raise this there and limit per client in the proxy")
    viewer_idle_timeout: float = setting(
        60.0, "a viewer of a ?stream= that is not live for this long (seconds) is closed (no_stream, "
              "1013: the page connects again); 0: never")
    stream_timeout: float = setting(5.0, "a stream without results this long (seconds) is inactive")
    curve_secret_key_file: str = setting(
        "", "CurveZMQ server secret key file (live2d-pose keys); empty: plaintext ZeroMQ")
    curve_allow: str = setting(
        "", "folder of the CurveZMQ public keys (*.key) admitted to push results: ingest's, and "
            "the workers' while they push directly; empty: any client that knows the server key")
    # Takes (docs/recording.md) and played streams (docs/protocol.md, "Played streams").
    record_dir: str = setting(
        "", "record every stream to this folder, one take per stream from its start to its end, named by "
            "stream and start time; takes a crash cut short there are recovered at start; empty: off")
    record_formats: str = setting("vrma,bvh", "the files of each take: vrma, bvh or both (comma list)")
    max_takes: int = setting(2, "takes the viewer page may record at once (POST /record); 0: none")
    max_take_seconds: float = setting(600.0, "a take the page records stops by itself after this long")
    camera_token: str = setting(
        "", "shared secret a program publishing a stream here (live2d-pose play, /publish) must send as "
            "?token=; give it ingest's camera token (the same LIVE2D_POSE_CAMERA_TOKEN)", secret=True)
    max_played: int = setting(8, "streams played at once (live2d-pose play); 0: none")


def _default_vts_token_file() -> str:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return str(Path(config_home) / "live2d-pose" / "vts-token")


@dataclass(frozen=True)
class GatewayClientConfig(CommonConfig):
    """What every client of the gateway's /ws shares: where it is, the stream, the token."""

    gateway_url: str = setting("ws://127.0.0.1:8080/ws", "the gateway's result WebSocket (/ws)")
    stream: str = setting("", "stream to follow (empty: the most recently active one)")
    viewer_token: str = setting("", "the gateway's viewer token, when it has one", secret=True)


@dataclass(frozen=True)
class OutputConfig(GatewayClientConfig):
    """What every output (live2d-pose vmc, vts) shares: the gateway, and the mirror."""

    mirror: bool = setting(True, "the avatar moves like your reflection (docs/outputs.md)")


@dataclass(frozen=True)
class VmcConfig(OutputConfig):
    to: str = setting("127.0.0.1:39539", "HOST:PORT of the VMC receiver (VSeeFace, VNyan, Warudo)")
    perfect_sync: bool = setting(False, "also send the 52 ARKit blendshapes (Perfect Sync avatars)")
    stats_file: str = setting("", "on stop, write counters and latency percentiles here as JSON")


@dataclass(frozen=True)
class VtsConfig(OutputConfig):
    vts_url: str = setting("ws://127.0.0.1:8001", "VTube Studio's plugin API WebSocket")
    token_file: str = setting(_default_vts_token_file(), "where the plugin's VTube Studio token is "
                                                         "kept (readable by you only)")


@dataclass(frozen=True)
class RecordConfig(GatewayClientConfig):
    """`live2d-pose record`: a stream's motion from the gateway to files (docs/recording.md)."""

    out: list = setting((), "file to write: .vrma (VRM Animation) or .bvh, by its suffix; twice for both "
                            "(the variable: paths separated by ':')")
    duration: float = setting(0.0, "stop after this many seconds (0: at Ctrl-C)")
    fps: float = setting(30.0, "frames per second of the files (the motion is resampled)")
    recover: list = setting((), "write the files of takes a crash cut short: a .journal, or a folder of them "
                                "(repeatable); nothing is recorded")


@dataclass(frozen=True)
class PlayConfig(CommonConfig):
    """`live2d-pose play`: a take published as a stream (docs/recording.md)."""

    take: str = setting("", "the .vrma to play")
    gateway_url: str = setting("ws://127.0.0.1:8080/publish", "the gateway's /publish WebSocket")
    stream: str = setting("played", "the stream's name (letters, digits, '.', '_', '-')")
    camera_token: str = setting("", "the gateway's camera token, when it has one", secret=True)
    loop: bool = setting(False, "play the take again and again, until Ctrl-C")


@dataclass(frozen=True)
class UpConfig(CommonConfig):
    """`live2d-pose up`: the whole pipeline on this host; other service settings reach
    its processes through their LIVE2D_POSE_* environment variables."""

    # One worker per core, at most 2 by default: on 2 cores a third adds latency and no
    # throughput (docs/performance.md); larger machines say --workers N.
    workers: int = setting(min(os.cpu_count() or 1, 2), "landmarker processes to run", short="-w")
    ip: str = setting("127.0.0.1", "address cameras and browsers connect to (0.0.0.0: all)",
                      short="-i")
    port: int = setting(8765, "camera WebSocket port", short="-p")
    http_port: int = setting(8080, "viewer page and /ws port")
    workers_port: int = setting(5555, "ZeroMQ port landmarkers fetch frames from and answer on (with --zmq-host)")
    results_port: int = setting(5556, "ZeroMQ port ingest sends results to the gateway on (with --zmq-host)")
    zmq_host: str = setting("", "address the ZeroMQ links bind to over TCP (0.0.0.0: remote workers); "
                                "empty: ipc sockets in a folder only this user can open")
    model: str = setting("", MODEL_HELP)
    frontend: str = setting("", "external viewer URL announced to cameras instead of ours")
    track: str = setting("face", "trackers for cameras that do not say track= (face, pose, hands)")
    max_faces: int = setting(1, "faces tracked per frame")
    max_poses: int = setting(1, "bodies tracked per frame")
    max_hands: int = setting(2, "hands tracked per frame")
    vmc: str = setting("", "also send the VMC protocol to HOST:PORT (e.g. 127.0.0.1:39539)")
    vts: bool = setting(False, "also run the VTube Studio plugin (ws://127.0.0.1:8001)")
    record: str = setting("", "record every stream to this folder (the gateway's --record-dir)")


C = TypeVar("C")


def _env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _convert(kind: type, text: str) -> Any:
    if kind is bool:
        return _parse_bool(text)
    if kind is list:  # file paths: the environment separates them as PATH does
        return tuple(part for part in text.split(os.pathsep) if part)
    return kind(text)


def _field_type(config_cls: type, f: dataclasses.Field) -> type:
    hints = {"str": str, "int": int, "float": float, "bool": bool, "list": list}
    return hints[f.type] if isinstance(f.type, str) else f.type


def add_arguments(parser: argparse.ArgumentParser, config_cls: type, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per field of ``config_cls``; defaults stay unset so env can fill them."""
    for f in dataclasses.fields(config_cls):
        if f.name in skip:
            continue
        kind = _field_type(config_cls, f)
        names = [_flag_name(f.name)]
        if f.metadata.get("short"):
            names.append(f.metadata["short"])
        shown_default = "(hidden)" if f.metadata.get("secret") and f.default else f.default
        help_text = f"{f.metadata.get('help', '')} [env {_env_name(f.name)}, default {shown_default!r}]"
        if kind is bool:
            parser.add_argument(
                *names, dest=f.name, default=None, action=argparse.BooleanOptionalAction, help=help_text
            )
        elif kind is list:
            parser.add_argument(*names, dest=f.name, default=None, action="append", help=help_text)
        else:
            parser.add_argument(*names, dest=f.name, default=None, type=kind, help=help_text)


def from_sources(config_cls: type[C], args: argparse.Namespace | None = None,
                 environ: Mapping[str, str] | None = None, **overrides: Any) -> C:
    """Build a config: explicit overrides, then flags, then environment, then defaults."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in dataclasses.fields(config_cls):
        kind = _field_type(config_cls, f)
        if f.name in overrides:
            values[f.name] = overrides[f.name]
        elif args is not None and getattr(args, f.name, None) is not None:
            value = getattr(args, f.name)
            values[f.name] = tuple(value) if kind is list else value
        elif _env_name(f.name) in environ:
            try:
                values[f.name] = _convert(kind, environ[_env_name(f.name)])
            except ValueError as exc:
                raise SystemExit(f"bad value for {_env_name(f.name)}: {exc}") from None
    return config_cls(**values)


def redacted(config: Any) -> dict[str, Any]:
    """The config as a dict for logging, with secrets hidden."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = "***" if f.metadata.get("secret") and value else value
    return out


def to_environment(config: Any) -> dict[str, str]:
    """The config as LIVE2D_POSE_* variables, the inverse of :func:`from_sources`."""
    env = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, bool):
            env[_env_name(f.name)] = "true" if value else "false"
        elif isinstance(value, tuple):
            env[_env_name(f.name)] = os.pathsep.join(value)
        else:
            env[_env_name(f.name)] = str(value)
    return env
