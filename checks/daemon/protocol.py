"""Where the resident process listens and how a request and its reply travel (length-prefixed JSON).

The client imports only this module: its start-up is the cost a user pays on every run, so nothing here may
import the analyzers, nor the json and socket modules (they import re and enum: ~20 ms of a ~40 ms client);
CPython's C halves of both are enough for one small JSON object each way."""

from __future__ import annotations

import os
import sys
import zlib

try:
    import _socket
except ImportError:          # not CPython: the full module, slower to import, the same sockets
    import socket as _socket

COMMANDS = ("structural", "lockgraph", "tsa", "gate")
MODULES = {"structural": "checks.structural", "lockgraph": "checks.lockgraph", "tsa": "checks.tsa",
           "gate": "checks.gate.__main__"}
CODE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# read when our modules are imported, so a server started under other values answers differently
IMPORT_TIME_ENV = ("MPS_VERIFY_", "XDG_CACHE_HOME", "HOME", "PYTHONPATH")
_HEADER_SIZE = 8         # the frame's length, big-endian


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
    if st.st_mode & 0o170000 != 0o040000 or st.st_uid != os.getuid() or st.st_mode & 0o077:   # a folder, ours, private
        raise ProtocolError(f"{folder} is not a private folder of this user (mode {st.st_mode & 0o777:o}); "
                            "remove it or set XDG_RUNTIME_DIR")
    return folder


def socket_path(environ=None) -> str:
    """The socket of the server for the identity of `environ` (one server per interpreter, code and settings)."""
    text = dumps(identity(environ))
    return os.path.join(runtime_dir(environ), f"{zlib.crc32(text.encode()):08x}.sock")


def ask(path: str, message: dict, environ=None) -> dict | None:
    """The reply of the server on `path` to `message` (sent with the identity of `environ`), or None when none
    is listening or it went away mid-request. An editor or another resident client calls this directly and
    pays no interpreter start."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
        send(sock, {**message, "identity": identity(environ)})
        return receive(sock)
    except (OSError, ProtocolError):
        return None
    finally:
        sock.close()


def listening(path: str) -> bool:
    """Whether a server accepts connections on `path`."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        return False
    finally:
        sock.close()
    return True


def send(sock, message: dict) -> None:
    """Write one frame."""
    data = dumps(message).encode("utf-8", "surrogatepass")
    sock.sendall(len(data).to_bytes(_HEADER_SIZE, "big") + data)


def receive(sock) -> dict:
    """Read one frame (a ProtocolError when the peer closed early or sent no JSON object)."""
    size = int.from_bytes(_exactly(sock, _HEADER_SIZE), "big")
    message = loads(_exactly(sock, size).decode("utf-8", "surrogatepass"))
    if not isinstance(message, dict):
        raise ProtocolError("not a message: expected a JSON object")
    return message


class _Decoding:
    """What the C scanner reads off a decoder: plain JSON, NaN and Infinity as floats."""
    strict, object_hook, object_pairs_hook = True, None, None
    parse_float, parse_int, parse_constant = float, int, float


def c_codec() -> tuple | None:
    """(encode(obj, 0) -> chunks, scan(text, at) -> (value, end)) from CPython's _json; None without it."""
    try:
        import _json
        return (_json.make_encoder(None, None, _json.encode_basestring_ascii, None, ": ", ", ", True, False, True),
                _json.make_scanner(_Decoding()))
    except (ImportError, AttributeError, TypeError):     # another Python, or another signature
        return None


def py_codec() -> tuple:
    """The same two functions from the json module (slower to import: it imports re)."""
    import json
    return (lambda obj, _level: [json.dumps(obj, sort_keys=True)]), json.JSONDecoder().raw_decode


_encode, _scan = c_codec() or py_codec()


def dumps(obj) -> str:
    """`obj` as ASCII JSON, keys sorted (equal objects give equal text: the socket's name hashes it)."""
    return "".join(_encode(obj, 0))


def loads(text: str):
    """The JSON value that is all of `text` (a ProtocolError otherwise)."""
    try:
        value, end = _scan(text, 0)
    except StopIteration as exc:
        raise ProtocolError(f"not a message: no JSON value at {exc.value}") from None
    except ValueError as exc:
        raise ProtocolError(f"not a message: {exc}") from None
    if end != len(text):
        raise ProtocolError(f"not a message: text after the value at {end}")
    return value


def _exactly(sock, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ProtocolError("connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
