"""Optional CurveZMQ encryption and authentication for the internal ZeroMQ links.

The ZeroMQ endpoints (ingest's workers endpoint, the gateway's results
endpoint) are plaintext and unauthenticated by default, which is fine on
localhost or a private container network. For landmarkers on other hosts,
turn on CURVE with one server key pair for the deployment:

    live2d-pose keys /etc/live2d-pose          # writes server.key and server.key_secret

- ingest and the gateway (the binding side) get the secret file:
  ``--curve-secret-key-file /etc/live2d-pose/server.key_secret``
  (env ``LIVE2D_POSE_CURVE_SECRET_KEY_FILE``);
- every landmarker gets the public key, as the 40-character Z85 text or the
  path of ``server.key``: ``--curve-server-key ...``
  (env ``LIVE2D_POSE_CURVE_SERVER_KEY``). Ingest, itself a client of the
  gateway, derives it from its own secret file unless told otherwise.

A peer that does not know the server's public key cannot complete the
handshake: it sends nothing and receives nothing. Knowing the public key is
what admits a worker, so treat ``server.key`` as a deployment secret too
(there is no per-worker allow-list). Clients use a fresh key pair per socket.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import zmq
import zmq.auth
from zmq.utils import z85

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
            raise CurveError(f"--curve-server-key is neither a 40-character Z85 key nor a "
                             f"readable key file: {exc}") from None
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


def make_client(socket: zmq.Socket, server_key: str | bytes) -> bool:
    """Make a connecting socket a CURVE client of ``server_key``; False when none is configured."""
    if not server_key:
        return False
    public, secret = zmq.curve_keypair()
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_serverkey = server_key if isinstance(server_key, bytes) else load_public(server_key)
    return True


def generate(directory: str, name: str = "server") -> tuple[Path, Path]:
    """Write ``NAME.key`` (public) and ``NAME.key_secret`` (mode 0600) into ``directory``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    public_file, secret_file = zmq.auth.create_certificates(str(folder), name)
    os.chmod(secret_file, 0o600)
    return Path(public_file), Path(secret_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="live2d-pose keys", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", help="folder for server.key and server.key_secret")
    parser.add_argument("--name", default="server", help="file name stem (default: server)")
    args = parser.parse_args(argv)
    if not zmq.has("curve"):
        sys.stderr.write("this libzmq was built without CURVE support\n")
        return 1
    public_file, secret_file = generate(args.directory, args.name)
    public, _ = zmq.auth.load_certificate(str(public_file))
    print(f"public key  {public_file}  ({public.decode()})")
    print(f"secret key  {secret_file}  (keep it on the ingest and gateway hosts only)")
    print(f"ingest/gateway: --curve-secret-key-file {secret_file}")
    print(f"landmarkers:    --curve-server-key {public.decode()}")
    return 0
