"""Plain HTTP answers on the gateway's port: the viewer's static files, and the
avatar model named by --model when it is a file on this machine.

Served through live2d_pose/httpserve.py (the ``process_request`` frame both
servers share), which has already refused bad methods and paths.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import posixpath
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from websockets.http11 import Response

from live2d_pose.httpserve import response
from live2d_pose.service import SettingError

log = logging.getLogger("live2d_pose.gateway")

NOT_BUILT_PAGE = """<!doctype html><meta charset="utf-8"><title>live2d-pose</title>
<body style="font-family:sans-serif;margin:2em"><h1>live2d-pose gateway</h1>
<p>The viewer page is not built. Run <code>make web</code> (or <code>make run</code>),
or point <code>--web-root</code> at a built <code>web/dist</code>.</p>
<p>Results are flowing on <code>/ws</code>; see <a href="streams">/streams</a>.</p></body>
"""


class StaticFiles:
    """Files under one folder, read on each request (they are few and small)."""

    def __init__(self, root: str):
        self.root = Path(root).resolve()

    def respond(self, route: str) -> Response:
        if route in ("", "/"):
            route = "/index.html"
        try:
            path = (self.root / route.lstrip("/")).resolve()
            found = path.is_relative_to(self.root) and path.is_file()  # no ../ escapes
        except (OSError, ValueError):  # a name too long for the file system, a NUL byte
            found = False
        if found:
            return response(HTTPStatus.OK, path.read_bytes(), _content_type(path))
        if route == "/index.html":
            return response(HTTPStatus.OK, NOT_BUILT_PAGE.encode(), "text/html; charset=utf-8")
        return response(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")


# ---------------------------------------------------------------- the avatar model (--model)

MODEL_ROUTE = "/model/"
MODEL_SUFFIXES = (".vrm", ".model3.json")  # a VRM avatar; a Live2D model (Cubism 3 and later)
MAX_MODEL3_BYTES = 1 << 20  # a model3.json lists files; a big one is not a model


class Model:
    """The avatar the page loads by default: --model's URL, handed to the page as it is, or
    a local file or folder, served under /model/ (what /config.json then names).

    Only the files the model names are served, each looked up by its exact URL path, so
    no path reaches the file system: a VRM is one file; a Live2D model is its
    .model3.json and the files its FileReferences list (moc, textures, physics, pose,
    expressions, motions and their sounds), inside the model's folder. A reference
    that leaves the folder (../, a link) is refused and logged.
    """

    def __init__(self, url: str = "", files: dict[str, Path] | None = None):
        self.url = url
        self.files = files or {}

    @classmethod
    def from_setting(cls, value: str) -> Model:
        """SettingError when a local path is not there or names no single model."""
        if not value or urlsplit(value).scheme in ("http", "https") or value.startswith("//"):
            return cls(value)
        path = Path(value).expanduser()
        if not path.exists():
            raise SettingError(f"--model {value}: no such file or folder (a URL must start with http:// or https://)")
        entry = _model_in(path) if path.is_dir() else path
        if not entry.name.lower().endswith(MODEL_SUFFIXES):
            raise SettingError(f"--model {value}: not a VRM (.vrm) or Live2D (.model3.json) model")
        files = {entry.name: entry.resolve()}
        if entry.name.lower().endswith(".model3.json"):
            files |= _live2d_files(entry)
        log.info("serving the model %s at %s%s (%d files)", entry.resolve(), MODEL_ROUTE, entry.name, len(files))
        # relative, so a page served under a prefix finds it; the page resolves the rest from it
        return cls(MODEL_ROUTE.lstrip("/") + quote(entry.name), files)

    def respond(self, route: str) -> Response | None:
        """The model's file for a /model/ route (404 for any other there); None off /model/ or
        without a local model (the viewer's own files then)."""
        if not self.files or not route.startswith(MODEL_ROUTE):
            return None
        path = self.files.get(unquote(route[len(MODEL_ROUTE) :]))
        if path is None:
            return response(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
        try:
            body = path.read_bytes()
        except OSError as exc:
            log.warning("cannot read the model's file %s: %s", path, exc.strerror or exc)
            return response(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
        return response(HTTPStatus.OK, body, _content_type(path))


def _model_in(folder: Path) -> Path:
    """The one model in a folder or two levels below it (downloads nest them: name/runtime/);
    no deeper, so a folder named by mistake (home) is not walked whole."""
    found = sorted(
        p
        for pattern in ("*", "*/*", "*/*/*")
        for p in folder.glob(pattern)
        if p.name.lower().endswith(MODEL_SUFFIXES) and p.is_file()
    )
    if len(found) != 1:
        names = ", ".join(str(p.relative_to(folder)) for p in found[:8]) or "none"
        raise SettingError(
            f"--model {folder}: a folder must hold exactly one .vrm or .model3.json "
            f"(found: {names}); name the file instead"
        )
    return found[0]


def _live2d_files(model3: Path) -> dict[str, Path]:
    """URL path (relative to the model3.json's) -> file, for each file it references."""
    try:
        if model3.stat().st_size > MAX_MODEL3_BYTES:
            raise ValueError(f"over {MAX_MODEL3_BYTES} bytes")
        references = json.loads(model3.read_bytes()).get("FileReferences")
        if not isinstance(references, dict):
            raise ValueError("no FileReferences")
    except (OSError, ValueError, AttributeError) as exc:
        raise SettingError(f"--model {model3}: not a Live2D model3.json ({exc})") from None
    folder = model3.parent.resolve()
    files = {}
    for name in _referenced_names(references):
        key = posixpath.normpath(name)
        path = (folder / key).resolve()
        if not path.is_relative_to(folder) or key.startswith("../") or posixpath.isabs(key):
            log.warning("the model names %r, outside its folder %s: not served", name, folder)
        elif not path.is_file():
            log.warning("the model names %r, which is not in %s", name, folder)
        else:
            files[key] = path
    return files


def _referenced_names(references: dict) -> list[str]:
    """The file names of a model3.json's FileReferences (Cubism SDK's layout); entries of
    another shape are passed over (the page will say what it misses)."""

    def items(value) -> list:
        return value if isinstance(value, list) else []

    motions = references.get("Motions") if isinstance(references.get("Motions"), dict) else {}
    entries = items(references.get("Expressions")) + [m for group in motions.values() for m in items(group)]
    names = [references.get(k) for k in ("Moc", "Physics", "Pose", "DisplayInfo", "UserData")]
    names += items(references.get("Textures"))
    names += [entry.get(k) for entry in entries if isinstance(entry, dict) for k in ("File", "Sound")]
    return [n for n in names if isinstance(n, str) and n]


def _content_type(path: Path) -> str:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type.endswith(("javascript", "json")):
        content_type += "; charset=utf-8"
    return content_type
