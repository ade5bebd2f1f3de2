"""The ``live2d-pose`` command: one entry point, one subcommand per role.

live2d-pose up [--workers N]     everything on this host, supervised
live2d-pose ingest               camera WebSocket -> landmarker pool
live2d-pose landmarker           one MediaPipe worker
live2d-pose gateway              results -> browsers, serves the viewer
live2d-pose camera --source S    example camera client
live2d-pose vmc --to HOST:PORT   drive VSeeFace / VNyan / Warudo (VMC protocol)
live2d-pose vts                  drive VTube Studio (plugin API)
live2d-pose record --out F.vrma  record a stream to motion files (.vrma, .bvh)
live2d-pose play F.vrma          publish a take as a stream
live2d-pose bench                benchmark against bare MediaPipe
live2d-pose bench --fidelity     tracking fidelity: lag, jitter, blinks (no services)
live2d-pose health ...           container health check
live2d-pose keys DIR             CurveZMQ key pair for the internal ZeroMQ links
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from typing import Any

from live2d_pose import config as cfg
from live2d_pose.logs import setup_logging


def load(reference: str) -> Any:
    """``"module:name"`` -> that object, its module imported now (a command loads only its own code)."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Command:
    """A subcommand whose flags are a settings dataclass: its fields, each a --flag and a
    LIVE2D_POSE_* variable. ``run`` gets the settings and returns the exit code."""

    name: str
    help: str
    settings: str  # "module:Class"
    run: str  # "module:function"
    positional: str = ""  # a setting also given as the one positional argument (play's take)

    def settings_class(self) -> type:
        return load(self.settings)

    def main(self, config: Any) -> int:
        return load(self.run)(config) or 0


# The services, each in services/<name>/ (installed as live2d_pose.<name>): its settings and its
# entry. `up` runs one of each (a landmarker per worker); `health --service` reads their settings.
SERVICES: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            "ingest",
            "run the ingest service alone (cameras in, frames to the landmarkers)",
            "live2d_pose.ingest.settings:IngestConfig",
            "live2d_pose.ingest.server:main",
        ),
        Command(
            "landmarker",
            "run one landmarker (a MediaPipe worker) alone",
            "live2d_pose.landmarker.settings:LandmarkerConfig",
            "live2d_pose.landmarker.start:main",
        ),
        Command(
            "gateway",
            "run the gateway alone (the rig, the viewers, the page)",
            "live2d_pose.gateway.settings:GatewayConfig",
            "live2d_pose.gateway.server:main",
        ),
    )
}
# Motion files (live2d_pose/recording/).
TAKES: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            "record",
            "record a stream's motion to .vrma / .bvh files",
            "live2d_pose.config:RecordConfig",
            "live2d_pose.recording.record:main",
        ),
        Command(
            "play",
            "publish a take (.vrma) as a stream, as if a camera were live",
            "live2d_pose.config:PlayConfig",
            "live2d_pose.recording.play:main",
            positional="take",
        ),
    )
}
# These parse their own flags: the camera client must also run as a standalone script, and the
# benchmark has many knobs of its own. name -> (help, "module:function" taking argv).
OWN_FLAGS = {
    "camera": ("stream a webcam, CSI camera, video or image to ingest", "live2d_pose.camera:main"),
    "bench": ("benchmark the pipeline against bare MediaPipe", "live2d_pose.bench.run:main"),
    "health": ("exit 0 when a service is healthy (for containers)", "live2d_pose.health:main"),
    "keys": ("write a CurveZMQ key pair (encrypted ZeroMQ to remote workers)", "live2d_pose.curve:main"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="live2d-pose", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in SERVICES.values():
        cfg.add_arguments(sub.add_parser(command.name, help=command.help), command.settings_class())
    from live2d_pose import supervisor

    supervisor.add_arguments(sub.add_parser("up", help="run ingest, N landmarkers and the gateway"))
    from live2d_pose.outputs import REGISTRY as OUTPUTS

    for kind in OUTPUTS.values():
        cfg.add_arguments(sub.add_parser(kind.name, help=kind.help), kind.config)
    for command in TAKES.values():
        parser_of = sub.add_parser(command.name, help=command.help)
        if command.positional:
            cfg.add_positional(parser_of, command.settings_class(), command.positional)
        cfg.add_arguments(parser_of, command.settings_class(), skip=(command.positional,))
    for name, (text, _) in OWN_FLAGS.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


EXIT_INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C


def main(argv: list[str] | None = None) -> int:
    """Run one command; Ctrl-C before it set up its own handling stops it without a traceback."""
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _main(argv: list[str]) -> int:
    if argv and argv[0] in OWN_FLAGS:
        return load(OWN_FLAGS[argv[0]][1])(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    if args.command == "up":
        from live2d_pose import supervisor

        return supervisor.main(args)
    from live2d_pose import outputs

    if args.command in outputs.REGISTRY:
        config = cfg.from_sources(outputs.REGISTRY[args.command].config, args)
        setup_logging(config.log_level)
        return outputs.main(args.command, config)
    command = SERVICES.get(args.command) or TAKES[args.command]
    config = cfg.from_sources(command.settings_class(), args)
    setup_logging(config.log_level)
    return command.main(config)


if __name__ == "__main__":
    sys.exit(main())
