"""Settings: frozen dataclasses filled from flags and environment.

Each field becomes a command-line flag (``--field-name``) and an environment
variable (``LIVE2D_POSE_FIELD_NAME``). A flag beats the environment, which
beats the default. The same names are used by docker-compose.yml and the
Kubernetes manifests, so a setting means the same thing everywhere.

Here are the machinery and the settings two or more commands share (the clients
of the gateway, the outputs, record, play, up); each service's own are in
services/<name>/settings.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from collections.abc import Mapping

from live2d_pose.trackers import TRACKERS

ENV_PREFIX = "LIVE2D_POSE_"

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
MODEL_HELP = (
    "the viewer's avatar: a VRM (.vrm) or a Live2D model (.model3.json), as a file or folder on "
    "this machine (the gateway serves it and the files it names) or an http(s) URL; "
    "empty: the built-in avatar"
)


def setting(default: Any, help: str, *, short: str | None = None, secret: bool = False):
    """A dataclass field that knows its help text (and optional short flag)."""
    return field(default=default, metadata={"help": help, "short": short, "secret": secret})


@dataclass(frozen=True)
class CommonConfig:
    log_level: str = setting("INFO", "logging level (DEBUG, INFO, WARNING, ERROR)")


@dataclass(frozen=True)
class CurveServerConfig:
    """A service that binds a ZeroMQ socket others connect to (ingest for workers, the gateway for
    ingest) and may encrypt it with CurveZMQ (docs/deployment.md)."""

    curve_secret_key_file: str = setting(
        "",
        "CurveZMQ server secret key file (live2d-pose keys); ingest's is also its identity toward the "
        "gateway; empty: plaintext ZeroMQ",
    )
    curve_allow: str = setting(
        "",
        "folder of the CurveZMQ public keys (*.key) admitted (ingest: the workers'; the gateway: "
        "ingest's, and the workers' while they push directly); empty: any client that knows the "
        "server key",
    )


def _tracker_limits() -> list[tuple[str, type, Any]]:
    """Each tracker's most items per frame (max_faces ...), a setting as the tracker table says."""
    return [(t.limit_setting, int, setting(t.limit_default, t.limit_help)) for t in TRACKERS.values()]


# Each tracker's limit, a setting per row of the tracker table (live2d_pose/trackers.json): the
# landmarker's and up's.
TrackerLimits: Any = dataclasses.make_dataclass("TrackerLimits", _tracker_limits(), frozen=True)


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
    token_file: str = setting(
        _default_vts_token_file(), "where the plugin's VTube Studio token is kept (readable by you only)"
    )


@dataclass(frozen=True)
class RecordConfig(GatewayClientConfig):
    """`live2d-pose record`: a stream's motion from the gateway to files (docs/recording.md)."""

    out: list = setting(
        (),
        "file to write: .vrma (VRM Animation) or .bvh, by its suffix; twice for both "
        "(the variable: paths separated by ':')",
    )
    duration: float = setting(0.0, "stop after this many seconds (0: at Ctrl-C)")
    fps: float = setting(30.0, "frames per second of the files (the motion is resampled)")
    recover: list = setting(
        (),
        "write the files of takes a crash cut short: a .journal, or a folder of them (repeatable); nothing is recorded",
    )


@dataclass(frozen=True)
class PlayConfig(CommonConfig):
    """`live2d-pose play`: a take published as a stream (docs/recording.md)."""

    take: str = setting("", "the .vrma to play")
    gateway_url: str = setting("ws://127.0.0.1:8080/publish", "the gateway's /publish WebSocket")
    stream: str = setting("played", "the stream's name (letters, digits, '.', '_', '-')")
    camera_token: str = setting("", "the gateway's camera token, when it has one", secret=True)
    loop: bool = setting(False, "play the take again and again, until Ctrl-C")


@dataclass(frozen=True)
class UpConfig(TrackerLimits, CommonConfig):
    """`live2d-pose up`: the whole pipeline on this host; other service settings reach
    its processes through their LIVE2D_POSE_* environment variables."""

    # One worker per core, at most 2 by default: on 2 cores a third adds latency and no
    # throughput (docs/performance.md); larger machines say --workers N.
    workers: int = setting(min(os.cpu_count() or 1, 2), "landmarker processes to run", short="-w")
    ip: str = setting("127.0.0.1", "address cameras and browsers connect to (0.0.0.0: all)", short="-i")
    port: int = setting(8765, "camera WebSocket port", short="-p")
    http_port: int = setting(8080, "viewer page and /ws port")
    workers_port: int = setting(5555, "ZeroMQ port landmarkers fetch frames from and answer on (with --zmq-host)")
    results_port: int = setting(5556, "ZeroMQ port ingest sends results to the gateway on (with --zmq-host)")
    zmq_host: str = setting(
        "",
        "address the ZeroMQ links bind to over TCP (0.0.0.0: remote workers); "
        "empty: ipc sockets in a folder only this user can open",
    )
    model: str = setting("", MODEL_HELP)
    frontend: str = setting("", "external viewer URL announced to cameras instead of ours")
    track: str = setting("face", f"trackers for cameras that do not say track= ({', '.join(TRACKERS)})")
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


def add_positional(parser: argparse.ArgumentParser, config_cls: type, name: str) -> None:
    """A field that is also the command's one positional argument (``play TAKE``); pass it in
    ``skip`` to add_arguments."""
    f = next(f for f in dataclasses.fields(config_cls) if f.name == name)
    parser.add_argument(name, nargs="?", default=None, help=f"{f.metadata.get('help', '')} [env {_env_name(name)}]")


def from_sources(
    config_cls: type[C],
    args: argparse.Namespace | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> C:
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
