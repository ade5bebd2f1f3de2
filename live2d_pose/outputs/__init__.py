"""Outputs to the apps avatar users already run, as plug-ins.

Each output is an entry in REGISTRY: a name (its subcommand), its settings
(a config dataclass, so every setting is a --flag and a LIVE2D_POSE_*
variable) and the class that implements outputs.base.Output, imported only
when that output runs. `live2d-pose vmc` and `live2d-pose vts` are built
from this table, and `live2d-pose up --vmc/--vts` starts them; adding an
output is adding a row and a module.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from collections.abc import Callable

from live2d_pose import config as cfg


@dataclass(frozen=True)
class OutputKind:
    name: str
    help: str
    config: type
    implementation: str  # "module:Class"
    # `live2d-pose up`: the flags this output's process gets from up's settings, or None
    # when up was not asked to run it (--vmc HOST:PORT, --vts).
    from_up: Callable[[cfg.UpConfig], list[str] | None]

    def load(self) -> type:
        module, _, attribute = self.implementation.partition(":")
        return getattr(importlib.import_module(module), attribute)


def _vmc_from_up(up: cfg.UpConfig) -> list[str] | None:
    if not up.vmc:
        return None
    from live2d_pose.outputs.vmc import parse_host_port

    parse_host_port(up.vmc, "--vmc")  # a bad --vmc stops `up` at once, not a child in a restart loop
    return ["--to", up.vmc]


REGISTRY: dict[str, OutputKind] = {
    kind.name: kind
    for kind in (
        OutputKind(
            "vmc",
            "send the VMC protocol (OSC) to VSeeFace, VNyan, Warudo, VMagicMirror",
            cfg.VmcConfig,
            "live2d_pose.outputs.vmc:VmcOutput",
            _vmc_from_up,
        ),
        OutputKind(
            "vts",
            "drive VTube Studio as a plugin of its public API",
            cfg.VtsConfig,
            "live2d_pose.outputs.vts:VtsOutput",
            lambda up: [] if up.vts else None,
        ),
    )
}


def main(name: str, config) -> int:
    """Run one output until Ctrl-C / SIGTERM (the `live2d-pose NAME` subcommand)."""
    from live2d_pose import aio
    from live2d_pose.outputs.base import run_outputs

    output = REGISTRY[name].load()(config)
    aio.run(run_outputs(config, [output]))
    return 0
