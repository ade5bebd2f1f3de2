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

from live2d_pose import config as cfg
from live2d_pose.logs import setup_logging

TAKES = {"record": cfg.RecordConfig, "play": cfg.PlayConfig}  # live2d_pose/recording/<command>.py
SERVICES = {
    "ingest": cfg.IngestConfig,
    "landmarker": cfg.LandmarkerConfig,
    "gateway": cfg.GatewayConfig,
}


def _run_service(name: str, args: argparse.Namespace) -> int:
    config = cfg.from_sources(SERVICES[name], args)
    setup_logging(config.log_level)
    if name == "ingest":
        from live2d_pose.ingest.server import main as run
    elif name == "landmarker":
        from live2d_pose.landmarker import mediapipe_metrics
        mediapipe_metrics.configure(config.mediapipe_metrics)  # before MediaPipe loads
        from live2d_pose.landmarker.worker import main as run
    else:
        from live2d_pose.gateway.server import main as run
    return run(config) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="live2d-pose", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, config_cls in SERVICES.items():
        service = sub.add_parser(name, help=f"run the {name} service alone")
        cfg.add_arguments(service, config_cls)
    from live2d_pose import supervisor
    supervisor.add_arguments(sub.add_parser("up", help="run ingest, N landmarkers and the gateway"))
    from live2d_pose.outputs import REGISTRY as OUTPUTS
    for kind in OUTPUTS.values():
        cfg.add_arguments(sub.add_parser(kind.name, help=kind.help), kind.config)
    cfg.add_arguments(sub.add_parser("record", help="record a stream's motion to .vrma / .bvh files"),
                      cfg.RecordConfig)
    play = sub.add_parser("play", help="publish a take (.vrma) as a stream, as if a camera were live")
    play.add_argument("take", nargs="?", default=None, help="the .vrma to play [env LIVE2D_POSE_TAKE]")
    cfg.add_arguments(play, cfg.PlayConfig, skip=("take",))
    # These parse their own flags: the camera client must also run as a
    # standalone script, and the benchmark has many knobs of its own.
    for name, text in (("camera", "stream a webcam, CSI camera, video or image to ingest"),
                       ("bench", "benchmark the pipeline against bare MediaPipe"),
                       ("health", "exit 0 when a service is healthy (for containers)"),
                       ("keys", "write a CurveZMQ key pair (encrypted ZeroMQ to remote workers)")):
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
    if argv and argv[0] in ("camera", "bench", "health", "keys"):
        return _run_passthrough(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "up":
        from live2d_pose import supervisor
        return supervisor.main(args)
    if args.command in TAKES:
        config = cfg.from_sources(TAKES[args.command], args)
        setup_logging(config.log_level)
        module = importlib.import_module(f"live2d_pose.recording.{args.command}")
        return module.main(config)
    from live2d_pose import outputs
    if args.command in outputs.REGISTRY:
        config = cfg.from_sources(outputs.REGISTRY[args.command].config, args)
        setup_logging(config.log_level)
        return outputs.main(args.command, config)
    return _run_service(args.command, args)


def _run_passthrough(command: str, argv: list[str]) -> int:
    if command == "camera":
        from live2d_pose.camera import main as run
    elif command == "bench":  # --fidelity included
        from live2d_pose.bench.run import main as run
    elif command == "keys":
        from live2d_pose.curve import main as run
    else:
        from live2d_pose.health import main as run
    return run(argv) or 0


if __name__ == "__main__":
    sys.exit(main())
