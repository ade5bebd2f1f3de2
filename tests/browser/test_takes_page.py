"""The page's record button and key: the gateway records the stream the page shows and the .vrma downloads.

Headless Chromium on the built page, served by a real gateway that a
Replayer feeds real MediaPipe results (gesture_video.mp4). In OBS (its
browser source defines window.obsstudio) there is no button at all.
"""

from __future__ import annotations

import time

import pytest

from live2d_pose.recording import read_motion
from live2d_pose.testing import record
from live2d_pose.testing.clients import TIMEOUT
from live2d_pose.testing.pipeline import Pipeline
from live2d_pose.testing.replay import Replayer
from tests.browser.chromium import MARKS, built_page, open_page, state

pytestmark = MARKS
VIEWPORT = {"width": 480, "height": 360}
TOKEN = "viewer-secret"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    built_page()
    pipe = Pipeline(tmp_path_factory.mktemp("gateway"), workers=0, env={"LIVE2D_POSE_VIEWER_TOKEN": TOKEN}).start()
    recording = record.load("web/test/fixtures/gesture.msgpack")
    with Replayer(f"tcp://127.0.0.1:{pipe.results_port}", recording, stream="cam", rate=25, per_tracker=True) as replay:
        replay.play(range(len(recording["results"])))
        yield pipe
    pipe.stop_cleanly()


def open_viewer(browser, gateway, obs: bool = False):
    pages = open_page(browser, VIEWPORT)
    page = next(pages)
    if obs:
        page.context.add_init_script("window.obsstudio = { pluginVersion: '30.0.0' };")
    page.goto(f"{gateway.http_url}/?stream=cam&token={TOKEN}")
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and not (state(page).get("stream") == "cam" and state(page)["framesReceived"]):
        page.wait_for_timeout(100)
    return page, pages


def test_the_record_key_records_the_shown_stream_and_downloads_the_take(browser, gateway, tmp_path):
    page, pages = open_viewer(browser, gateway)
    try:
        button = page.locator("#take button")
        assert button.text_content() == "● rec"
        page.keyboard.press("r")
        page.wait_for_function(
            "() => document.querySelector('#take button').className === 'recording'", timeout=TIMEOUT * 1000
        )
        page.wait_for_timeout(2500)
        assert button.text_content().startswith("■ 0:0")
        with page.expect_download(timeout=TIMEOUT * 1000) as download:
            button.click()  # the button stops it as the key would
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name.startswith("cam-") and saved.suffix == ".vrma"
        take = read_motion(saved)
        assert 1.5 < take.duration_ms / 1000 < 5 and "rightUpperArm" in take.bones
        links = page.locator("#take a")
        assert sorted(links.evaluate_all("(as) => as.map((a) => a.download.split('.').pop())")) == ["bvh", "vrma"]
        assert all(f"token={TOKEN}" in href for href in links.evaluate_all("(as) => as.map((a) => a.href)"))
        assert button.text_content() == "● rec" and not page.page_errors
    finally:
        next(pages, None)


def test_the_recorder_says_why_it_cannot_record(browser, gateway):
    page, pages = open_viewer(browser, gateway)
    try:
        page.route(
            "**/record?*",
            lambda route: route.fulfill(status=429, body="2 take(s) are being recorded already (--max-takes)\n"),
        )
        page.keyboard.press("r")
        page.wait_for_function(
            "() => document.querySelector('#take .why').textContent.includes('max-takes')", timeout=TIMEOUT * 1000
        )
        assert page.locator("#take button").text_content() == "● rec"
    finally:
        next(pages, None)


def test_obs_shows_no_record_button(browser, gateway):
    page, pages = open_viewer(browser, gateway, obs=True)
    try:
        assert state(page)["framesReceived"] > 0
        assert page.locator("#take").count() == 0
        page.keyboard.press("r")
        page.wait_for_timeout(500)
        assert page.locator("#take").count() == 0 and not page.page_errors
    finally:
        next(pages, None)
