"""Where the resident process listens and how a request and its reply travel (length-prefixed JSON).

The client imports only this module and the standard library's socket/json: its start-up is the cost a
user pays on every run, so nothing here may import the analyzers."""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import sys
import zlib

COMMANDS = ("structural", "lockgraph", "tsa", "gate")
MODULES = {"structural": "checks.structural", "lockgraph": "checks.lockgraph", "tsa": "checks.tsa",
           "gate": "checks.gate.__main__"}
CODE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# read when our modules are imported, so a server started under other values answers differently
IMPORT_TIME_ENV = ("MPS_VERIFY_", "XDG_CACHE_HOME", "HOME", "PYTHONPATH")
_HEADER = struct.Struct(">Q")


class ProtocolError(Exception):
    """The other side closed the connection or sent something that is not a frame."""


def identity(environ=None) -> dict:
    """What makes two processes interchangeable: the interpreter, our code's folder, and the environment our
    modules read when imported (a request from another identity must not be answered by this server);
    `environ` is os.environ unless given (the environment a server was or will be started with)."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items()
           if k.startswith(IMPORT_TIME_ENV) and k != "MPS_VERIFY_DEBUG"}
    return {"python": sys.executable, "code": CODE_ROOT, "env": dict(sorted(env.items()))}


def runtime_dir(environ=None) -> str:
    """A folder only this user can enter ($XDG_RUNTIME_DIR/mps-verify, else $TMPDIR/mps-verify-UID); a
    ProtocolError when one exists that others could enter or that someone else owns."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_RUNTIME_DIR")
    folder = (os.path.join(base, "mps-verify") if base
              else os.path.join(environ.get("TMPDIR") or "/tmp", f"mps-verify-{os.getuid()}"))
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.lstat(folder)
    except OSError as exc:
        raise ProtocolError(f"cannot make {folder}: {exc.strerror}") from exc
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise ProtocolError(f"{folder} is not a private folder of this user (mode {st.st_mode & 0o777:o}); "
                            "remove it or set XDG_RUNTIME_DIR")
    return folder


def socket_path(environ=None) -> str:
    """The socket of the server for the identity of `environ` (one server per interpreter, code and settings)."""
    text = json.dumps(identity(environ), sort_keys=True)
    return os.path.join(runtime_dir(environ), f"{zlib.crc32(text.encode()):08x}.sock")


def ask(path: str, message: dict, environ=None) -> dict | None:
    """The reply of the server on `path` to `message` (sent with the identity of `environ`), or None when none
    is listening or it went away mid-request. An editor or another resident client calls this directly and
    pays no interpreter start."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    with sock:
        try:
            send(sock, {**message, "identity": identity(environ)})
            return receive(sock)
        except (OSError, ProtocolError):
            return None


def listening(path: str) -> bool:
    """Whether a server accepts connections on `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


def send(sock: socket.socket, message: dict) -> None:
    """Write one frame."""
    data = json.dumps(message).encode("utf-8", "surrogatepass")
    sock.sendall(_HEADER.pack(len(data)) + data)


def receive(sock: socket.socket) -> dict:
    """Read one frame (a ProtocolError when the peer closed early or sent no JSON object)."""
    size = _HEADER.unpack(_exactly(sock, _HEADER.size))[0]
    try:
        message = json.loads(_exactly(sock, size).decode("utf-8", "surrogatepass"))
    except ValueError as exc:
        raise ProtocolError(f"not a message: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError("not a message: expected a JSON object")
    return message


def _exactly(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ProtocolError("connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
