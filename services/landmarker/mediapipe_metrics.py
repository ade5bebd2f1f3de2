"""MediaPipe's usage metrics: they stay on this machine unless the user allows them.

MediaPipe Tasks send "metrics about the performance and utilization of the
APIs" to Google (the privacy notice in the wheel's METADATA, which leaves
informed consent to us): which task ran, in which running mode, how long it
took to build, how many frames it ran, how fast and how many it dropped, on
which platform and Python; no images and no landmarks. MediaPipe 1.2.2's C
library posts them to https://play.googleapis.com/log with a libcurl of its
own, about a minute after a task is built and when it is closed, and the
close waits for the post. Where the name does not resolve at once (Docker's
internal DNS on a network with no route out, a resolver that drops queries)
every close stalled 10 s: ingest declared the worker dead and quarantined a
stream.

MediaPipe has no switch for it: no option, and during a close its library
reads no environment variable but libcurl's proxy ones (no_proxy, NO_PROXY,
https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY; seen with an LD_PRELOAD
getenv logger). So unless the user allows the metrics (--mediapipe-metrics),
:func:`configure` points this process's https_proxy at a proxy libcurl
refuses before it resolves a name or opens a socket, and drops no_proxy
(which could exempt Google's host from it): the post fails at once and
nothing leaves the machine. It runs before MediaPipe loads, in the
landmarker process only: that process makes no other HTTPS request, and the
processes it starts get the environment it was given (:func:`child_environment`).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("live2d_pose.landmarker")

# A proxy of a scheme libcurl does not know: it refuses the request without a DNS query or a
# connect (measured with strace). A port would do too, unless something listened on it.
REFUSED_PROXY = "none://"
_PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY")
_EXEMPTING_VARIABLES = ("no_proxy", "NO_PROXY")

_VARIABLES = _PROXY_VARIABLES + _EXEMPTING_VARIABLES
_given: dict[str, str] | None = None  # those variables as this process was given them


def configure(allowed: bool) -> None:
    """Before MediaPipe loads: unless ``allowed``, its metrics never leave this machine."""
    global _given
    if allowed:
        log.info(
            "MediaPipe's usage metrics: allowed (--mediapipe-metrics); MediaPipe sends them to "
            "Google (play.googleapis.com)"
        )
        return
    if _given is None:
        _given = {name: os.environ[name] for name in _VARIABLES if name in os.environ}
    for name in _PROXY_VARIABLES:
        os.environ[name] = REFUSED_PROXY
    for name in _EXEMPTING_VARIABLES:
        os.environ.pop(name, None)
    log.info("MediaPipe's usage metrics: off, nothing leaves this machine (--mediapipe-metrics allows them)")


def child_environment() -> dict[str, str]:
    """This process's environment with the proxy settings it was given, for the processes it
    starts."""
    env = {k: v for k, v in os.environ.items() if _given is None or k not in _VARIABLES}
    return env | (_given or {})
