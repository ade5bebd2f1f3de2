"""`--model ./my.vrm` or `--model ./folder/`: the gateway serves a model file from this
machine under /model/, and exactly the files the model names.

Unit tests of the lookup (services/gateway/pages.py: Model) on a VRM and on a Live2D
folder written here (its files stand in for a real model's: only the names matter to
the server), then the real gateway serving the VRM sample of the viewer's tests
(web/test/fixtures/vrm/sphere.vrm, CC0) to a real Chromium, which shows it.
"""

from __future__ import annotations

import http.client
import json
import shutil
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from live2d_pose.gateway.pages import Model
from live2d_pose.service import SettingError
from live2d_pose.testing.clients import TIMEOUT
from live2d_pose.testing.pipeline import Pipeline

from tests.browser.chromium import MARKS, built_page, open_page

REPO = Path(__file__).resolve().parents[2]
SPHERE = REPO / "web" / "test" / "fixtures" / "vrm" / "sphere.vrm"
TEXTURE = "textures/肌 1.png"  # a space and a non-ASCII name, as model downloads have


def body(response) -> bytes:
    assert response is not None
    return response.body if response.status_code == 200 else b""


def status(model: Model, url_path: str) -> int:
    response = model.respond(url_path)
    return response.status_code if response is not None else 0


@pytest.fixture
def live2d(tmp_path) -> Path:
    """A Live2D model folder: what its model3.json names, one file it does not, a reference
    out of the folder and a link out of it; a secret beside the folder."""
    (tmp_path / "secret.txt").write_text("not for the page")
    folder = tmp_path / "Hiyori" / "runtime"
    (folder / "textures").mkdir(parents=True)
    (folder / "motions").mkdir()
    for name, data in (
        ("hiyori.moc3", b"MOC3"),
        (TEXTURE, b"\x89PNG"),
        ("hiyori.physics3.json", b"{}"),
        ("motions/idle.motion3.json", b"{}"),
        ("motions/idle.wav", b"RIFF"),
        ("smile.exp3.json", b"{}"),
        ("notes.txt", b"unreferenced"),
    ):
        (folder / name).write_bytes(data)
    (folder / "link.png").symlink_to(tmp_path / "secret.txt")
    (folder / "hiyori.model3.json").write_text(
        json.dumps(
            {
                "Version": 3,
                "FileReferences": {
                    "Moc": "hiyori.moc3",
                    "Textures": [TEXTURE],
                    "Physics": "hiyori.physics3.json",
                    "Expressions": [{"Name": "smile", "File": "./smile.exp3.json"}],
                    "Motions": {"Idle": [{"File": "motions/idle.motion3.json", "Sound": "motions/idle.wav"}]},
                    "UserData": "../../secret.txt",
                    "DisplayInfo": "link.png",
                    "Pose": "missing.pose3.json",
                },
            }
        )
    )
    return folder


# ---------------------------------------------------------------- the lookup


def test_a_url_goes_to_the_page_as_it_is():
    for url in ("", "https://example.com/a/b.model3.json", "http://host:9000/m.vrm", "//cdn/x.vrm"):
        model = Model.from_setting(url)
        assert model.url == url and model.files == {} and model.respond("/model/x.vrm") is None


def test_a_vrm_file_is_served_alone(tmp_path):
    shutil.copy(SPHERE, tmp_path / "my avatar.vrm")
    (tmp_path / "other.txt").write_text("x")
    model = Model.from_setting(str(tmp_path / "my avatar.vrm"))
    assert model.url == "model/my%20avatar.vrm"
    assert body(model.respond("/model/my%20avatar.vrm")) == SPHERE.read_bytes()
    assert status(model, "/model/other.txt") == 404
    assert model.respond("/index.html") is None  # off /model/: the viewer's files
    assert Model.from_setting(str(tmp_path / "my avatar.vrm")).files == Model.from_setting(str(tmp_path)).files


def test_a_live2d_folder_serves_what_its_model_names(live2d, caplog):
    model = Model.from_setting(str(live2d.parent.parent))  # the download's folder: found two levels down
    assert model.url == "model/hiyori.model3.json"
    served = {
        "hiyori.model3.json",
        "hiyori.moc3",
        TEXTURE,
        "hiyori.physics3.json",
        "smile.exp3.json",
        "motions/idle.motion3.json",
        "motions/idle.wav",
    }
    assert set(model.files) == served
    # what a browser asks for, resolving each name against the model3.json's URL
    assert body(model.respond("/model/" + quote(TEXTURE))) == b"\x89PNG"
    assert body(model.respond("/model/motions/idle.wav")) == b"RIFF"
    for path in (
        "/model/notes.txt",
        "/model/link.png",
        "/model/../../secret.txt",
        "/model/%2e%2e/%2e%2e/secret.txt",
        "/model//etc/passwd",
        "/model/" + quote(str(live2d / "notes.txt")),
        "/model/missing.pose3.json",
    ):
        assert status(model, path) == 404, path
    log = caplog.text
    assert "'../../secret.txt', outside its folder" in log and "'link.png', outside its folder" in log
    assert "'missing.pose3.json', which is not in" in log


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: d / "nope.vrm", "no such file or folder"),
        (lambda d: (d / "a.png").write_bytes(b"x") and d / "a.png", "not a VRM (.vrm) or Live2D (.model3.json) model"),
        (lambda d: [shutil.copy(SPHERE, d / n) for n in ("a.vrm", "b.vrm")] and d, "found: a.vrm, b.vrm"),
        (lambda d: d, "found: none"),
        (lambda d: (d / "x.model3.json").write_text("[1, 2") and d / "x.model3.json", "not a Live2D model3.json"),
    ],
)
def test_a_local_path_that_names_no_model_is_a_setting_error(tmp_path, setup, message):
    with pytest.raises(SettingError, match="--model .*" + message.replace("(", r"\(").replace(")", r"\)")):
        Model.from_setting(str(setup(tmp_path)))


def test_a_model3_of_odd_shape_serves_what_it_can(tmp_path):
    (tmp_path / "a.moc3").write_bytes(b"MOC3")
    (tmp_path / "odd.model3.json").write_text(
        json.dumps(
            {
                "FileReferences": {
                    "Moc": "a.moc3",
                    "Textures": "a.moc3",
                    "Motions": ["x"],
                    "Expressions": [1, {"File": 2}],
                }
            }
        )
    )
    assert set(Model.from_setting(str(tmp_path)).files) == {"odd.model3.json", "a.moc3"}


# ---------------------------------------------------------------- the real gateway, a real browser


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    shutil.copy(SPHERE, folder / "sphere.vrm")
    (folder.parent / "secret.txt").write_text("not for the page")
    built_page()
    pipe = Pipeline(
        tmp_path_factory.mktemp("gateway"), workers=0, env={"LIVE2D_POSE_MODEL": str(folder / "sphere.vrm")}
    ).start()
    yield pipe
    pipe.stop_cleanly()


def test_the_gateway_serves_the_model_and_names_it_in_config(gateway):
    with urllib.request.urlopen(f"{gateway.http_url}/config.json", timeout=TIMEOUT) as response:
        assert json.load(response)["model"] == "model/sphere.vrm"
    with urllib.request.urlopen(f"{gateway.http_url}/model/sphere.vrm", timeout=TIMEOUT) as response:
        assert response.read() == SPHERE.read_bytes()
    for path in ("/model/../secret.txt", "/model/%2e%2e/secret.txt", "/model/", "/model/sphere.vrm/.."):
        connection = http.client.HTTPConnection("127.0.0.1", gateway.http_port, timeout=TIMEOUT)
        connection.request("GET", path)  # sent as written: urllib would tidy the dots away
        answer = connection.getresponse()
        assert answer.status == 404 and b"not for the page" not in answer.read(), path
        connection.close()


@pytest.fixture
def page(browser):
    yield from open_page(browser, {"width": 640, "height": 480})


@MARKS[0]
@MARKS[1]
def test_the_page_shows_the_served_vrm(gateway, page):
    loaded = []
    page.on("response", lambda r: loaded.append((r.url.split("/", 3)[-1], r.status)))
    page.goto(f"{gateway.http_url}/")
    page.wait_for_function(
        "() => window.__live2dPose && window.__live2dPose.renderer === 'vrm'", timeout=TIMEOUT * 1000
    )
    page.wait_for_function("() => window.__live2dPose.note === ''", timeout=TIMEOUT * 1000)
    assert ("model/sphere.vrm", 200) in loaded, loaded
    assert not any(url.endswith("builtin-avatar.vrm") for url, _ in loaded), loaded  # no fallback
    assert not page.page_errors, page.page_errors
