"""What the outputs take from peers they do not control (the gateway, VTube Studio): JSON text
parsed so that no message can raise, and their texts cut to size before they reach a log line."""

from __future__ import annotations

import json

MAX_LOGGED_TEXT = 200  # characters of a peer's text put in a log line


def json_object(raw: str | bytes) -> dict | None:
    """A JSON object; None for anything else (not JSON, nested too deeply, not an object)."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." deeper than the parser's stack
        return None
    return value if isinstance(value, dict) else None


def shown(value: object) -> str:
    """A peer's text as a log line may hold it: short, on one line."""
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= MAX_LOGGED_TEXT else text[:MAX_LOGGED_TEXT] + f"... ({len(text)} characters)"
