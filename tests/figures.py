"""Measured figures from the fault, fuzz and security tests, for docs/reliability.md.

The ``figures`` fixture records ``name -> value`` per test: each line is
printed (``pytest -s`` shows it) and appended to ``figures.json`` in pytest's
base temporary folder, and to ``$LIVE2D_POSE_FIGURES`` when that is set.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest


class Figures:
    def __init__(self, test: str, paths: list[Path]):
        self.test = test
        self.paths = paths
        self.values: dict[str, object] = {}

    def __setitem__(self, name: str, value: object) -> None:
        if isinstance(value, float):
            value = round(value, 3)
        self.values[name] = value
        print(f"FIGURE {self.test} {name}={value}")

    def flush(self) -> None:
        if not self.values:
            return
        line = json.dumps({"test": self.test, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "figures": self.values})
        for path in self.paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as out:
                out.write(line + "\n")


@pytest.fixture
def figures(request, tmp_path_factory):
    paths = [tmp_path_factory.getbasetemp() / "figures.json"]
    if os.environ.get("LIVE2D_POSE_FIGURES"):
        paths.append(Path(os.environ["LIVE2D_POSE_FIGURES"]))
    recorder = Figures(request.node.name, paths)
    yield recorder
    recorder.flush()
