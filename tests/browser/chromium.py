"""What the browser tests share: Debian's Chromium through Playwright, the built page,
a page per test that records its console, and reading the page's state and pixels.

The ``browser`` fixture is in this folder's conftest.py; test modules make their own
``page`` fixture with :func:`open_page` and their viewport.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from live2d_pose.testing.clients import TIMEOUT

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
DIST = WEB / "dist"
# Screenshots of every run land in build/screenshots/ (git-ignored); with
# LIVE2D_POSE_UPDATE_SCREENSHOTS=1 they replace the docs' in docs/images/.
IMAGES = REPO / ("docs/images" if os.environ.get("LIVE2D_POSE_UPDATE_SCREENSHOTS") else "build/screenshots")
CHROMIUM = os.environ.get("LIVE2D_POSE_CHROMIUM", "/usr/bin/chromium")
# SwiftShader renders WebGL (Live2D, three.js) without a GPU; no background traffic on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--use-gl=swiftshader",
    "--enable-unsafe-swiftshader",
]
MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]
playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e .[test])")


def built_page() -> Path:
    """web/dist/index.html, building it once if the dependencies are installed."""
    if not (DIST / "index.html").exists():
        npm = shutil.which("npm")
        if npm is None or not (WEB / "node_modules").exists():
            pytest.skip("viewer not built: run `cd web && npm ci && npm run build`")
        subprocess.run([npm, "run", "build"], cwd=WEB, check=True, timeout=TIMEOUT * 4)
    return DIST / "index.html"


def launch():
    """Debian's Chromium through Playwright (a generator for a fixture); skips without it."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, viewport: dict):
    """A fresh context and page (a generator for a fixture); the page keeps its console
    lines in ``console_messages`` and uncaught errors in ``page_errors``."""
    context = browser.new_context(viewport=viewport)
    pg = context.new_page()
    pg.console_messages = []
    pg.on("console", lambda m: pg.console_messages.append(f"{m.type}: {m.text}"))
    pg.page_errors = []
    pg.on("pageerror", lambda e: pg.page_errors.append(str(e)))
    yield pg
    context.close()


def state(page) -> dict:
    """The page's ``window.__live2dPose``, as plain data."""
    return page.evaluate("() => JSON.parse(JSON.stringify(window.__live2dPose))")


def avatar_pixels(page, canvas: str = "builtin") -> np.ndarray:
    """One avatar canvas alone (no HUD, no note), as RGBA: the built-in avatar's by default."""
    url = page.evaluate("(id) => document.getElementById(id).toDataURL('image/png')", canvas)
    data = base64.b64decode(url.split(",", 1)[1])
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None and image.shape[2] == 4
    return image


def drawn_fraction(image: np.ndarray) -> float:
    return float((image[:, :, 3] > 0).mean())


def changed_fraction(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > 40).mean())
