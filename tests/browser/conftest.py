"""Fixtures of the browser tier: one Chromium per module, and the motion-file probe page."""

from __future__ import annotations

import subprocess

import pytest

from tests.browser.chromium import WEB, launch

READERS = WEB / "test" / "readers"


@pytest.fixture(scope="module")
def browser():
    yield from launch()


@pytest.fixture(scope="module")
def chromium(browser):
    return browser


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    esbuild = WEB / "node_modules" / ".bin" / "esbuild"
    if not (WEB / "node_modules" / "@pixiv" / "three-vrm-animation").exists() or not esbuild.exists():
        pytest.skip("web/node_modules lacks @pixiv/three-vrm-animation: run `cd web && npm ci`")
    out = tmp_path_factory.mktemp("probe") / "probe.js"
    subprocess.run(
        [
            str(esbuild),
            str(READERS / "vrma-probe.js"),
            "--bundle",
            "--format=iife",
            f"--outfile={out}",
            "--log-level=warning",
        ],
        cwd=WEB,
        check=True,
        timeout=120,
    )
    return out.read_text()
