"""CurveZMQ encryption and client allow-lists for the internal ZeroMQ links.

On one host, `live2d-pose up` keeps the ZeroMQ links on ipc:// sockets in a
folder only its user can open, and needs none of this. Across hosts, turn
on CURVE, pyzmq's "ironhouse" pattern: the binding side (ingest's workers
endpoint, the gateway's results endpoint) has a server key pair, every
client has its own key pair, and each server admits only the clients whose
public keys are in its allow-list folder (a ZAP authenticator thread checks
each handshake). docs/deployment.md walks through it:

    live2d-pose keys /etc/live2d-pose                  # server.key, server.key_secret
    live2d-pose keys /etc/live2d-pose --name worker-1  # one pair per worker host

- ingest and the gateway: ``--curve-secret-key-file server.key_secret``
  (ingest also uses this pair as its own identity toward the gateway);
- ingest: ``--curve-allow FOLDER`` holding the workers' ``*.key`` files;
- the gateway: ``--curve-allow FOLDER`` holding ingest's public key
  (``server.key``), plus the workers' while they push results directly;
- each landmarker: ``--curve-server-key server.key`` (or its 40-character
  Z85 text) and ``--curve-client-key-file worker-1.key_secret``.

Without ``--curve-allow`` a server admits any client that knows its public
key (then treat ``server.key`` as a secret); a client without a key file
makes a fresh pair per socket, which only such a server admits. A peer
that is not admitted never completes the handshake: it sends nothing and
receives nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from live2d_pose.logs import ThrottledWarning

Z85_KEY_LENGTH = 40


class CurveError(ValueError):
    """A missing or malformed CURVE key."""


def load_secret(path: str) -> tuple[bytes, bytes]:
    """(public, secret) from a ``*.key_secret`` certificate file."""
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise CurveError(f"cannot read CURVE secret key file {path}: {exc}") from None
    if not secret:
        raise CurveError(f"{path} holds no secret key (use the *.key_secret file)")
    return public, secret


def load_public(value: str) -> bytes:
    """A server public key: 40 Z85 characters, or the path of a certificate file."""
    if len(value) == Z85_KEY_LENGTH and not os.path.exists(value):
        key = value.encode()
    else:
        try:
            key, _ = zmq.auth.load_certificate(value)
        except (OSError, ValueError) as exc:
            raise CurveError(
                f"--curve-server-key is neither a 40-character Z85 key nor a readable key file: {exc}"
            ) from None
    try:
        z85.decode(key)
    except (ValueError, KeyError):
        raise CurveError("--curve-server-key is not a valid Z85 key") from None
    return key


def make_server(socket: zmq.Socket, secret_key_file: str) -> bool:
    """Make a binding socket a CURVE server; False (plaintext) when no file is configured."""
    if not secret_key_file:
        return False
    public, secret = load_secret(secret_key_file)
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True
    return True


def make_client(socket: zmq.Socket, server_key: str | bytes, key_file: str = "") -> bool:
    """Make a connecting socket a CURVE client of ``server_key``, as the key pair in ``key_file``
    (a fresh pair when empty); False when no server key is configured."""
    if not server_key:
        return False
    public, secret = load_secret(key_file) if key_file else zmq.curve_keypair()
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_serverkey = server_key if isinstance(server_key, bytes) else load_public(server_key)
    return True


class AllowList:
    """The clients a CURVE server admits: the public keys (``*.key``) in one folder.

    A ZAP credentials provider: pyzmq's authenticator thread asks :meth:`callback`
    about each client's key during the handshake."""

    def __init__(self, folder: str, what: str, log: logging.Logger):
        try:
            self.keys = set(zmq.auth.load_certificates(folder))
        except (OSError, ValueError) as exc:
            raise CurveError(f"cannot read the CURVE allow-list {folder}: {exc}") from None
        if not self.keys:
            raise CurveError(f"the CURVE allow-list {folder} holds no public keys (*.key files)")
        self.refused = ThrottledWarning(log)
        self.what = what

    def callback(self, domain: str, client_key: bytes) -> bool:
        if client_key in self.keys:
            return True
        self.refused(
            "%s: refused a CURVE client whose key %s is not on the allow-list",
            self.what,
            client_key[:8].decode(errors="replace") + "...",
        )
        return False


def start_allow_list(
    context: zmq.Context, folder: str, secret_key_file: str, what: str, log: logging.Logger
) -> ThreadAuthenticator | None:
    """Admit only the clients in ``folder`` to the CURVE servers of ``context`` (call before bind).
    None when no folder is configured; stop the returned authenticator before closing the context."""
    if not folder:
        return None
    if not secret_key_file:
        raise CurveError(
            f"--curve-allow {folder} needs --curve-secret-key-file (the allow-list is checked in the CURVE handshake)"
        )
    allowed = AllowList(folder, what, log)
    authenticator = ThreadAuthenticator(context, log=logging.getLogger("live2d_pose.zap"))
    authenticator.start()
    authenticator.configure_curve_callback("*", credentials_provider=allowed)
    log.info("%s admits %d CURVE client key(s) from %s", what, len(allowed.keys), folder)
    return authenticator


def generate(directory: str, name: str = "server") -> tuple[Path, Path]:
    """Write ``NAME.key`` (public) and ``NAME.key_secret`` (mode 0600) into ``directory``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    public_file, secret_file = zmq.auth.create_certificates(str(folder), name)
    os.chmod(secret_file, 0o600)
    return Path(public_file), Path(secret_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="live2d-pose keys", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("directory", help="folder for NAME.key (public) and NAME.key_secret")
    parser.add_argument(
        "--name", default="server", help="file name stem: server (ingest and gateway), or a worker's name"
    )
    args = parser.parse_args(argv)
    if not zmq.has("curve"):
        sys.stderr.write("this libzmq was built without CURVE support\n")
        return 1
    public_file, secret_file = generate(args.directory, args.name)
    public, _ = zmq.auth.load_certificate(str(public_file))
    print(f"public key  {public_file}  ({public.decode()})")
    if args.name == "server":
        print(f"secret key  {secret_file}  (keep it on the ingest and gateway hosts only)")
        print(f"ingest/gateway: --curve-secret-key-file {secret_file}")
        print(f"landmarkers:    --curve-server-key {public.decode()}")
        print(f"the gateway's allow-list (--curve-allow FOLDER) needs {public_file.name}: ingest's identity")
    else:
        print(f"secret key  {secret_file}  (keep it on this worker's host only)")
        print(f"this worker:    --curve-client-key-file {secret_file}")
        print(f"ingest's allow-list: copy {public_file.name} into its --curve-allow folder")
    return 0
