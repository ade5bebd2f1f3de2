"""Cross-site WebSocket hijacking, tried from a real Chromium page on another origin.

A browser sends the page's Origin with every WebSocket handshake and applies no
same-origin policy to WebSockets, so any page the user opens can reach
ws://127.0.0.1:8765/image (binding to localhost does not stop a browser on the
same machine). Before ingest checked the Origin, such a page finished the camera
handshake under a running camera's stream name, sent a JPEG and took the stream
over: the real camera was closed ``replaced`` (4000) and backed off for 30 s.

Here a real ingest, gateway and landmarker serve a real camera (the
``live2d-pose camera`` command); a page served from another port of this
machine (another origin) tries the same, and tries to read results from /ws.
(The page is served for real: Chromium's local network access checks block a
page with no address, such as one Playwright makes up, from reaching
127.0.0.1 at all, which would hide whether ingest refuses it.) Both are refused (HTTP 403: the browser sees
close code 1006), the camera is never replaced. A page the gateway serves itself
still reads /ws, and an ingest told to allow that page (a browser camera page)
lets it finish the handshake: the refusal is the Origin's, nothing else's.
"""

from __future__ import annotations

import base64
import http.server
import subprocess
import sys
import threading
import time

import pytest

from live2d_pose.testing.clients import TIMEOUT
from live2d_pose.testing.frames import astronaut_frame
from live2d_pose.testing.pipeline import Pipeline, free_port
from tests.browser.chromium import MARKS

pytestmark = MARKS


# The attacker's page: the camera handshake, one JPEG, and a peek at the results socket.
ATTACK = """
async ([url, jpegBase64]) => new Promise((resolve) => {
  const seen = [];
  const ws = new WebSocket(url);
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    seen.push(message.type);
    if (message.type === "initialized") ws.send(JSON.stringify({imageSize: {width: 640, height: 480}}));
    if (message.type === "ready") {
      ws.send(Uint8Array.from(atob(jpegBase64), (c) => c.charCodeAt(0)));
      setTimeout(() => resolve({seen, code: null}), 1000);
    }
    if (message.type === "hello") resolve({seen, code: null});
  };
  ws.onclose = (event) => resolve({seen, code: event.code});
})
"""


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><body>a page on another origin</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def evil_origin():
    """A web server on another port: its pages' Origin is not the gateway's."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    pipe = Pipeline(tmp_path_factory.mktemp("origin"), workers=1).start()
    yield pipe
    pipe.stop()


def _page_at(browser, url: str):
    page = browser.new_page()
    page.goto(url)
    return page


def _attack(page, url: str) -> dict:
    return page.evaluate(ATTACK, [url, base64.b64encode(astronaut_frame()).decode()])


def test_a_page_on_another_origin_cannot_take_a_stream_or_read_results(pipe, browser, evil_origin, tmp_path, figures):
    image = tmp_path / "face.jpg"
    image.write_bytes(astronaut_frame())
    camera = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "live2d_pose",
            "camera",
            "--server",
            pipe.camera_url + "?stream=victim",
            "--source",
            str(image),
            "--fps",
            "10",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while pipe.ingest_stats().get("streams", {}).get("victim", {}).get("done", 0) < 3:
            assert time.monotonic() < deadline and camera.poll() is None, "the camera never got going"
            time.sleep(0.1)
        session = pipe.ingest_stats()["streams"]["victim"]["session"]
        page = _page_at(browser, evil_origin + "/")
        hijack = _attack(page, pipe.camera_url + "?stream=victim")
        peek = _attack(page, pipe.viewer_url("stream=victim"))
        own = _page_at(browser, pipe.http_url + "/")  # the viewer page the gateway serves
        viewer = _attack(own, pipe.viewer_url("stream=victim"))
        time.sleep(1.0)
        stats = pipe.ingest_stats()
    finally:
        camera.terminate()
        camera.wait(TIMEOUT)
    figures["hijack_close_code"] = hijack["code"]
    figures["hijack_messages"] = len(hijack["seen"])
    assert hijack == {"seen": [], "code": 1006}, hijack  # refused at the handshake: HTTP 403
    assert peek == {"seen": [], "code": 1006}, peek
    assert viewer["seen"] == ["hello"], viewer
    assert stats["streams"]["victim"]["session"] == session  # the camera kept its stream
    assert stats["totals"]["replaced"] == 0 and stats["totals"]["origin_refused"] == 1
    assert "refused a camera connection from a web page" in pipe.services["ingest"].log()


def test_an_allowed_browser_camera_page_gets_in(tmp_path_factory, browser, evil_origin):
    allowing = Pipeline(
        tmp_path_factory.mktemp("allowing"), workers=0, env={"LIVE2D_POSE_ALLOWED_ORIGINS": evil_origin}
    ).start()
    try:
        result = _attack(_page_at(browser, evil_origin + "/"), allowing.camera_url + "?stream=browser-cam")
    finally:
        allowing.stop()
    assert result == {"seen": ["initialized", "ok", "ready"], "code": None}, result
