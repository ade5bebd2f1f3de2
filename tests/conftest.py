"""Shared fixtures: real pipelines on free ports, and a runner for async test bodies."""

from __future__ import annotations

import asyncio

import pytest

# The harness lives in the package (live2d_pose.testing); `tests.figures` resolves through
# pyproject's pytest `pythonpath = ["."]`.
from tests.figures import figures  # noqa: F401  (fixture: measured figures for docs)
from live2d_pose.testing.pipeline import Pipeline


def run(coroutine):
    """Run an async test body on a fresh event loop (no pytest-asyncio needed)."""
    return asyncio.run(coroutine)


def start_pipeline(tmp_path_factory, name: str, workers: int = 2, **env: str) -> Pipeline:
    return Pipeline(tmp_path_factory.mktemp(name), workers=workers, env=env).start()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Ingest, two landmarkers and the gateway, shared by the tests of one module."""
    pipe = start_pipeline(
        tmp_path_factory,
        "pipeline",
        workers=2,
        LIVE2D_POSE_MAX_FRAME_BYTES=str(512 * 1024),
        LIVE2D_POSE_MAX_PIXELS=str(1920 * 1080),
    )
    yield pipe
    pipe.stop_cleanly()
