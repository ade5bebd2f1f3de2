"""A new user's first minutes with the page, in a real browser against the real gateway.

The gateway runs as a process, fed by a Replayer (real MediaPipe results of
gesture_video.mp4, as in test_viewer_avatars.py); Debian's Chromium shows the page.
Checked: the default page says nothing (in OBS neither); the settings panel (key s)
sets the avatar, mirror, framing, stream, HUD and background, shows the URL for OBS
and remembers the choices, with the URL's query winning, and never shows in OBS
(``?obs=1`` or OBS's own browser source, ``window.obsstudio``); a stream that is not
live is said, with the live ones; a .vrm dropped onto the page is shown; a model
on a server that refuses CORS, and a file that is not glTF, get notes a person can
act on; and the layout at 1280×720, 1920×1080 and a square 1080×1080 OBS source
for each built-in avatar: the whole head and (2D) both hands inside the frame, the
bust running off the bottom edge instead of ending in mid-air, the note beside
the avatar rather than over it.

Screenshots go to build/screenshots/ (docs/images/ with LIVE2D_POSE_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from live2d_pose.testing import record
from live2d_pose.testing.pipeline import Pipeline, free_port
from live2d_pose.testing.replay import Replayer

from tests.browser.chromium import IMAGES, MARKS, avatar_pixels, built_page, open_page, playwright_sync, state
from tests.browser.test_viewer_avatars import ARM_UP, FIXTURES, raised, wait_for
from tests.browser.test_viewer_browser import FAKE_CORE

REPO = Path(__file__).resolve().parents[2]
SPHERE = FIXTURES / "vrm" / "sphere.vrm"
PICTURE = REPO / "docs" / "images" / "viewer-hud.png"  # a PNG named .vrm, as a user might
OBS_BROWSER = "window.obsstudio = {pluginVersion: '2.24.2'};"  # what OBS's browser source defines
expect = playwright_sync.expect

pytestmark = MARKS


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """The real gateway (and ingest) serving the built page, the sample VRM and a PNG named .vrm."""
    root = tmp_path_factory.mktemp("web")
    shutil.copytree(built_page().parent, root, dirs_exist_ok=True)
    (root / "models").mkdir()
    shutil.copy(SPHERE, root / "models" / "sphere.vrm")
    shutil.copy(PICTURE, root / "models" / "picture.vrm")
    pipe = Pipeline(tmp_path_factory.mktemp("gateway"), workers=0, env={"LIVE2D_POSE_WEB_ROOT": str(root)}).start()
    yield pipe
    pipe.stop_cleanly()


@pytest.fixture(scope="module")
def replay(gateway):
    """The stream "replay", live for the whole module, holding the raised right arm."""
    with Replayer(
        f"tcp://127.0.0.1:{gateway.results_port}", record.load(FIXTURES / "gesture.msgpack"), stream="replay"
    ) as r:
        r.hold(ARM_UP)
        yield r
        r.check()


@pytest.fixture(scope="module")
def other_server(tmp_path_factory):
    """Another web server, as a user's `python -m http.server` would be: it sends no CORS headers,
    except under /cors/ (the same files, to show that CORS is what made the difference)."""
    folder = tmp_path_factory.mktemp("elsewhere")
    shutil.copy(SPHERE, folder / "sphere.vrm")
    (folder / "hiyori.model3.json").write_text('{"Version": 3, "FileReferences": {"Moc": "hiyori.moc3"}}')

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def translate_path(self, path):
            return super().translate_path(path.removeprefix("/cors"))

        def end_headers(self):
            if self.path.startswith("/cors/"):
                self.send_header("Access-Control-Allow-Origin", "*")
            super().end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def page(browser):
    yield from open_page(browser, {"width": 1280, "height": 720})


@pytest.fixture
def obs_page(browser):
    """A page in what looks to it like OBS's browser source."""
    with contextlib.contextmanager(open_page)(browser, {"width": 1280, "height": 720}) as pg:
        pg.add_init_script(OBS_BROWSER)
        yield pg


def note_of(page) -> str:
    return state(page)["note"]


# ---------------------------------------------------------------- nothing to say: no note


@pytest.mark.parametrize("where", ["browser", "obs=1", "obs browser source"])
def test_the_default_page_shows_no_note(gateway, replay, page, obs_page, where):
    pg = obs_page if where == "obs browser source" else page
    pg.goto(f"{gateway.http_url}/" + ("?obs=1" if where == "obs=1" else ""))
    st = wait_for(pg, lambda s: s["framesReceived"] >= 5 and s["poses"] >= 1, "motion of the replayed stream", replay)
    pg.wait_for_timeout(500)
    assert st["renderer"] == "builtin"
    assert note_of(pg) == "" and not pg.locator("#note").is_visible()
    assert st["options"]["obs"] == (where != "browser")
    assert not pg.page_errors, pg.page_errors


# ---------------------------------------------------------------- the settings panel


def test_the_panel_sets_the_look_shows_the_obs_url_and_remembers(gateway, replay, page):
    page.goto(f"{gateway.http_url}/")
    wait_for(page, lambda s: s["poses"] >= 1 and s["avatar"]["arms"], "the 2D avatar's arms", replay)
    panel = page.locator("#panel")
    assert not panel.is_visible()
    # the settings button is there for a mouse, unobtrusive until the mouse moves
    button = page.locator("#settings-button")
    assert button.evaluate("b => getComputedStyle(b.parentElement).opacity") == "0"
    page.mouse.move(400, 300)
    page.mouse.move(420, 310)
    expect(page.locator("#toolbar")).to_have_css("opacity", "1")

    page.keyboard.press("s")
    expect(panel).to_be_visible()
    # the live streams are listed
    expect(panel.locator("select[name=stream] option[value=replay]")).to_have_count(1)
    # mirror off: the subject's raised right arm now raises the avatar's right arm (screen's left)
    assert wait_for(page, lambda s: raised_2d(s, "left"), "mirrored: the left arm up")
    panel.locator("input[name=mirror]").uncheck()
    wait_for(page, lambda s: raised_2d(s, "right") and not raised_2d(s, "left"), "unmirrored: the right arm up", replay)
    panel.locator("select[name=framing]").select_option("upper")
    panel.locator("input[name=bg]").fill("00ff00")
    panel.locator("input[name=bg]").press("Enter")
    panel.locator("select[name=avatar]").select_option("vrm")
    st = wait_for(
        page,
        lambda s: s["renderer"] == "vrm" and s["avatar"] and raised(s, "right"),
        "the built-in 3D avatar, unmirrored",
        replay,
    )
    assert st["options"]["framing"] == "upper" and st["options"]["bg"] == "#00ff00"
    assert page.evaluate("getComputedStyle(document.documentElement).backgroundColor") == "rgb(0, 255, 0)"
    obs_url = f"{gateway.http_url}/?avatar=vrm&framing=upper&mirror=0&bg=00ff00&obs=1"
    expect(panel.locator(".obs-url")).to_have_value(obs_url)
    page.mouse.move(640, 360)
    page.screenshot(path=IMAGES / "viewer-panel.png")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()

    # remembered: a reload looks the same, but the URL's query wins
    page.reload()
    st = wait_for(
        page, lambda s: s["renderer"] == "vrm" and s["avatar"] and raised(s, "right"), "the look remembered", replay
    )
    assert (st["options"]["mirror"], st["options"]["framing"]) == (False, "upper")
    page.goto(f"{gateway.http_url}/?mirror=1&avatar=")
    st = wait_for(
        page, lambda s: s["avatar"] and s["avatar"].get("arms") and raised_2d(s, "left"), "the query's look", replay
    )
    assert st["renderer"] == "builtin" and st["options"]["framing"] == "upper"
    # a panel choice on a page whose query names that option rewrites the query (so a reload keeps it)
    page.keyboard.press("s")
    panel.locator("input[name=mirror]").uncheck()
    expect(page).to_have_url(f"{gateway.http_url}/?mirror=0&avatar=")

    # the URL for OBS shows exactly that look, and no panel: not even with the key
    page.goto(obs_url)
    st = wait_for(page, lambda s: s["renderer"] == "vrm" and s["avatar"] and raised(s, "right"), "the OBS look", replay)
    assert st["options"]["obs"] and st["options"]["framing"] == "upper"
    page.mouse.move(300, 300)
    page.keyboard.press("s")
    page.wait_for_timeout(300)
    assert not panel.is_visible() and not page.locator("#toolbar").is_visible() and not state(page)["panelOpen"]
    assert not page.page_errors, page.page_errors


def test_obs_browser_source_ignores_remembered_choices_and_has_no_panel(gateway, replay, browser):
    """Choices made in a browser are remembered there; OBS's browser source shows its URL's look."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        pg = context.new_page()
        pg.goto(f"{gateway.http_url}/")
        pg.evaluate("""() => localStorage.setItem('live2d-pose.viewer',
            JSON.stringify({values: {avatar: 'vrm', mirror: '0'}, config: {model: ''}}))""")
        pg.reload()
        wait_for(pg, lambda s: s["renderer"] == "vrm" and s["options"]["mirror"] is False, "the remembered look")
        obs = context.new_page()  # same storage, as if OBS shared it
        obs.add_init_script(OBS_BROWSER)
        obs.goto(f"{gateway.http_url}/")
        st = wait_for(obs, lambda s: s["framesReceived"] >= 3, "motion")
        assert st["renderer"] == "builtin" and st["options"]["mirror"] is True and st["options"]["obs"]
        obs.keyboard.press("s")
        obs.wait_for_timeout(300)
        assert not obs.locator("#panel").is_visible() and not obs.locator("#toolbar").is_visible()
    finally:
        context.close()


def raised_2d(st: dict, side: str) -> bool:
    """The built-in 2D avatar's forearm on that side points up."""
    return st["avatar"]["arms"][side]["lowerDir"][1] > 0.5


# ---------------------------------------------------------------- a stream that is not live


def test_a_stream_that_is_not_live_is_said_with_the_live_ones(gateway, replay, page):
    page.goto(f"{gateway.http_url}/?stream=nope")
    st = wait_for(page, lambda s: s["connected"] and "No stream" in s["note"], "the stream note")
    assert st["note"] == 'No stream "nope" is live. Live now: "replay" — choose one in the settings (key s).'
    assert page.locator("#note").is_visible()
    page.keyboard.press("s")
    panel = page.locator("#panel")
    expect(panel.locator(".stream-status")).to_contain_text('No stream "nope" is live')
    expect(panel.locator("select[name=stream] option[value=nope]")).to_have_text("nope (not live)")
    page.screenshot(path=IMAGES / "viewer-no-such-stream.png")
    # choosing a live one: the note goes, the motion comes
    panel.locator("select[name=stream]").select_option("replay")
    st = wait_for(
        page,
        lambda s: s["note"] == "" and s["stream"] == "replay" and s["framesReceived"] >= 3,
        "the live stream's motion",
        replay,
    )
    assert st["options"]["stream"] == "replay"
    assert not page.page_errors, page.page_errors


def test_in_obs_a_stream_that_is_not_live_shows_no_note(gateway, replay, obs_page):
    obs_page.goto(f"{gateway.http_url}/?stream=nope")
    st = wait_for(obs_page, lambda s: s["connected"] and s["streamStatus"], "the stream's status")
    assert 'No stream "nope" is live' in st["streamStatus"]
    obs_page.wait_for_timeout(500)
    assert note_of(obs_page) == "" and not obs_page.locator("#note").is_visible()


# ---------------------------------------------------------------- your own avatar file


def drop_file(page, path: Path, name: str | None = None) -> bool:
    """Drop a file onto the page as a person would from a file manager; True when the page
    took the drag (a page that does not would have the browser open the file instead)."""
    return page.evaluate(
        """({b64, name}) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name));
        const target = document.querySelector('canvas.avatar');
        const over = new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true});
        target.dispatchEvent(over);
        target.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        return over.defaultPrevented;
    }""",
        {"b64": base64.b64encode(path.read_bytes()).decode(), "name": name or path.name},
    )


def test_a_dropped_vrm_is_shown(gateway, replay, page):
    page.goto(f"{gateway.http_url}/")
    wait_for(page, lambda s: s["framesReceived"] >= 3, "motion", replay)
    assert drop_file(page, SPHERE, "My Avatar.vrm")
    st = wait_for(
        page,
        lambda s: s["renderer"] == "vrm" and s["avatar"] and s["avatar"]["metaVersion"] == "0",
        "the dropped VRM 0.x",
        replay,
    )
    assert st["note"] == ""
    # it follows the motion like any VRM: the subject's right arm, mirrored, raises its left
    wait_for(page, lambda s: raised(s, "left"), "the dropped avatar's left arm raised", replay)
    page.keyboard.press("s")
    expect(page.locator("#panel")).to_contain_text("Showing My Avatar.vrm (dropped: this tab only)")
    expect(page.locator("#panel")).to_contain_text('make run ARGS="--model ./My Avatar.vrm"')
    # an animation is not an avatar
    assert drop_file(page, SPHERE, "wave.vrma")
    wait_for(page, lambda s: "not an avatar" in s["note"], "the note for a .vrma")
    assert state(page)["renderer"] == "vrm"
    assert not page.page_errors, page.page_errors


def test_the_panel_opens_a_vrm_file(gateway, replay, page):
    page.goto(f"{gateway.http_url}/")
    page.keyboard.press("s")
    page.locator("#panel input[type=file]").set_input_files(str(SPHERE))
    st = wait_for(
        page,
        lambda s: s["renderer"] == "vrm" and s["avatar"] and s["avatar"]["metaVersion"] == "0",
        "the opened VRM",
        replay,
    )
    assert st["note"] == ""


def test_a_remote_vrm_refused_for_cors_says_cors_and_what_to_do(gateway, replay, page, other_server):
    page.goto(f"{gateway.http_url}/?model={other_server}/sphere.vrm")
    st = wait_for(page, lambda s: "CORS" in s["note"], "the CORS note")
    assert "refused to share it with this page (CORS)" in st["note"], st["note"]
    assert 'make run ARGS="--model ./sphere.vrm"' in st["note"]
    assert "showing the built-in 3D avatar" in st["note"]
    page.screenshot(path=IMAGES / "viewer-cors-note.png")
    # the same file from the same server, with CORS headers: it loads
    page.goto(f"{gateway.http_url}/?model={other_server}/cors/sphere.vrm")
    st = wait_for(
        page, lambda s: s["renderer"] == "vrm" and s["avatar"] and s["avatar"]["metaVersion"] == "0", "the VRM"
    )
    assert st["note"] == ""
    # a server that is not there at all is not called a CORS problem
    page.goto(f"{gateway.http_url}/?model=http://127.0.0.1:{free_port()}/sphere.vrm")
    st = wait_for(page, lambda s: "could not be loaded" in s["note"], "the note")
    assert "did not answer" in st["note"] and "CORS" not in st["note"], st["note"]
    assert not page.page_errors, page.page_errors


def test_a_remote_live2d_model_refused_for_cors_says_cors(gateway, page, other_server):
    page.route(
        "**/live2dcubismcore.min.js", lambda route: route.fulfill(body=FAKE_CORE, content_type="text/javascript")
    )
    page.goto(f"{gateway.http_url}/?model={other_server}/hiyori.model3.json")
    st = wait_for(page, lambda s: "Live2D model could not be loaded" in s["note"], "the Live2D note")
    assert "(CORS)" in st["note"] and 'ARGS="--model ./hiyori.model3.json"' in st["note"], st["note"]
    assert st["renderer"] == "builtin"


def test_a_file_that_is_not_gltf_gets_a_readable_note(gateway, page):
    page.goto(f"{gateway.http_url}/?model=models/picture.vrm")
    st = wait_for(page, lambda s: "could not be loaded" in s["note"], "the note")
    assert st["note"] == (
        "VRM models/picture.vrm could not be loaded (it is a PNG image, not a model file)"
        " — showing the built-in 3D avatar"
    ), st["note"]
    assert st["renderer"] == "vrm"


# ---------------------------------------------------------------- layout

SIZES = [(1280, 720), (1920, 1080), (1080, 1080)]
LAYOUT_AVATARS = {"builtin-2d": ("", "builtin"), "builtin-vrm": ("avatar=vrm&", "vrm")}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("avatar", list(LAYOUT_AVATARS))
def test_layout(gateway, browser, avatar, size):
    """Arms hanging at rest and a note (a stream that is not live): the whole head and both
    hands in the frame, the bust cut by the bottom edge, the note beside the avatar."""
    width, height = size
    query, canvas = LAYOUT_AVATARS[avatar]
    with contextlib.contextmanager(open_page)(browser, {"width": width, "height": height}) as pg:
        pg.goto(f"{gateway.http_url}/?{query}stream=nope")
        st = wait_for(
            pg,
            lambda s: s["renderer"] == canvas and s["avatar"] and "No stream" in s["note"],
            "the avatar and the note",
        )
        pg.wait_for_timeout(600)
        IMAGES.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=IMAGES / f"layout-{avatar}-{width}x{height}.png")
        alpha = avatar_pixels(pg, canvas)[:, :, 3] > 0
        assert alpha.shape == (height, width)
        middle = alpha[:, width * 9 // 20 : width * 11 // 20]
        assert not middle[: height // 50].any(), "the head's top is inside the frame"
        assert middle[-1].mean() > 0.9, "the bust runs off the bottom edge, not ending above it"
        if canvas == "builtin":
            for side, box in state(pg)["avatar"]["hands"].items():
                assert 0 <= box["left"] and box["right"] <= width and 0 <= box["top"] and box["bottom"] <= height, (
                    side,
                    box,
                )
        note = pg.locator("#note").bounding_box()
        assert note["x"] > width / 2, "the note leaves the avatar's middle free"
        under = alpha[int(note["y"]) : int(note["y"] + note["height"]), int(note["x"]) : int(note["x"] + note["width"])]
        assert under.mean() < 0.2, f"the note covers {under.mean():.0%} avatar"
        assert not pg.page_errors, pg.page_errors
        assert st["note"]
