"""Content-addressed cache of parsed files under .mps-verify/cache/structural/.

The key covers the file's bytes, its reported path, the mps-verify version and the hash of the parser
sources and grammar, so any change to input or parser misses; entries are pickles written atomically
(parallel runs and workers can share the folder). A corrupt or unreadable entry is a miss.
Entries are zlib-compressed (level 1): a pickled model is ~5x its source, compressed ~1x, and
compressing costs less than writing the difference (measured on 5 MB of 2.6.0 source: 26 MB -> 5.7 MB,
0.16 s CPU to compress, 0.07 s to decompress). The incremental runs' states, rewritten by every edit, are
kept plain: compressing one took longer than writing its 3x bytes.

Content addressing means an edit leaves the old entries behind (the edited file's old model, the old
whole-run results), so the folder is trimmed (`trim`, run by every command at most once an hour): files
unused for $MPS_VERIFY_CACHE_MAX_DAYS (default 30) go, then the least recently used until it is under
$MPS_VERIFY_CACHE_MAX_MB (default 1024). A hit marks its entry used (its mtime, refreshed at most once an
hour).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from mpsverify_base import __version__
from mpsverify_base.config import parse_yaml
from mpsverify_base.errors import UsageError
from mpsverify_base.paths import REPO_ROOT

MAGIC = b"mvz1"      # entry format: compressed pickle (an entry without it or RAW is a miss)
RAW = b"mvp1"        # entry format: plain pickle (see put)
PARSER_SOURCES = ("grammar.lark", "lexer.py", "parse.py", "model.py", "blockvars.py")
MAX_MB_ENV, MAX_DAYS_ENV = "MPS_VERIFY_CACHE_MAX_MB", "MPS_VERIFY_CACHE_MAX_DAYS"
DEFAULT_MAX_MB, DEFAULT_MAX_DAYS = 1024, 30
USED_EVERY_S = 3600      # a hit refreshes its entry's mtime when that is older: one utime an hour at most
TRIM_EVERY_S = 3600      # trim() looks at the folder at most this often (the stamp's mtime says when)
STAMP = ".trimmed"
# while a resident process answers a request: the puts it may make after replying, by path (defer_writes)
_LATER: dict[Path, Callable[[], None]] | None = None


def cache_root() -> Path:
    """$MPS_VERIFY_CACHE_DIR, else .mps-verify/cache in the mps-verify checkout, else (an installed,
    read-only copy) $XDG_CACHE_HOME/mps-verify."""
    env = os.environ.get("MPS_VERIFY_CACHE_DIR")
    if env:
        return Path(env)
    if os.access(REPO_ROOT, os.W_OK):
        return REPO_ROOT / ".mps-verify" / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mps-verify"


@lru_cache(maxsize=1)
def parser_version() -> str:
    """mps-verify version + hash of the grammar and parser modules."""
    digest = hashlib.sha256(__version__.encode())
    here = Path(__file__).resolve().parent
    for name in PARSER_SOURCES:
        digest.update(name.encode() + b"\0" + (here / name).read_bytes())
    return digest.hexdigest()[:16]


def key(data: bytes, rel: str, salt: str = "") -> str:
    """Cache key of one file's parse."""
    digest = hashlib.sha256(data)
    digest.update(b"\0" + rel.encode() + b"\0" + parser_version().encode() + b"\0" + salt.encode())
    return digest.hexdigest()


class ParseCache:
    """get/put of pickled values by key in one folder (a no-op when disabled or not writable)."""

    def __init__(self, folder: Path | None = None, enabled: bool = True):
        self.folder = (folder or cache_root()) / "structural"
        self.enabled = enabled

    def _path(self, k: str) -> Path:
        return self.folder / k[:2] / f"{k}.pickle"

    def has(self, k: str) -> bool:
        """Whether an entry exists (without reading it)."""
        return self.enabled and self._path(k).is_file()

    def get(self, k: str):
        """The cached value, or None."""
        if not self.enabled:
            return None
        try:
            path = self._path(k)
            if _LATER and path in _LATER:
                _LATER.pop(path)()                   # read back as written: never the live object
            with open(path, "rb") as fh:
                blob = fh.read()
                mark_used(path, fh)
            if blob.startswith(RAW):
                return pickle.loads(memoryview(blob)[len(RAW):])
            if not blob.startswith(MAGIC):
                return None
            return pickle.loads(zlib.decompress(memoryview(blob)[len(MAGIC):]))
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError,
                zlib.error):
            return None

    def put(self, k: str, value, compress: bool = True, later: bool = False) -> None:
        """Store a value atomically, compressed unless told not to; failures (read-only disk, full disk) are
        ignored. `later`: after the reply, where a resident process defers writes (`value` is then not
        changed by anyone until written)."""
        if not self.enabled:
            return
        path = self._path(k)
        if later and _LATER is not None:
            _LATER[path] = lambda: self.put(k, value, compress)
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # tempfile.mkstemp's way, without importing tempfile and random (~2 ms of every run)
            tmp = path.parent / f".tmp-{os.getpid()}-{os.urandom(6).hex()}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(MAGIC if compress else RAW)
                sink = _Deflating(fh) if compress else fh   # pickled frame by frame: never whole in memory
                pickle.dump(value, sink, protocol=pickle.HIGHEST_PROTOCOL)
                if compress:
                    sink.close()
            os.replace(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)
            except (OSError, UnboundLocalError):
                pass


def defer_writes() -> None:
    """From now on, put(..., later=True) only notes the value, until write_deferred(): a resident process
    replies first (pickling a run's incremental states is ~8% of an edit's re-run)."""
    global _LATER
    if _LATER is None:
        _LATER = {}


def write_deferred() -> None:
    """Make the puts deferred since the last call."""
    while _LATER:
        _LATER.pop(next(iter(_LATER)))()


def parsed_yaml(text: str, source: str, cache: bool = False) -> Any:
    """parse_yaml(text, source), kept by the text's hash when `cache`: the catalogue and the lock hierarchy
    are read by every run, and parsing them, with importing the YAML library, was ~15 ms of a run that found
    all else cached."""
    if not cache:
        return parse_yaml(text, source)
    store = ParseCache()
    k = "yaml-" + hashlib.sha256(f"{__version__}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()
    hit = store.get(k)
    if isinstance(hit, tuple) and len(hit) == 1:
        return hit[0]
    data = parse_yaml(text, source)
    store.put(k, (data,))        # a 1-tuple: an empty document (None) is a hit too
    return data


class _Deflating:
    """A file-like sink that zlib-compresses (level 1) what is written into `fh`."""

    def __init__(self, fh) -> None:
        self.fh, self.z = fh, zlib.compressobj(1)

    def write(self, data) -> None:
        self.fh.write(self.z.compress(data))

    def close(self) -> None:
        self.fh.write(self.z.flush())


def mark_used(path: Path | str, fh) -> None:
    """Refresh the mtime of a cache file just read through `fh` when it is older than USED_EVERY_S
    (trim() removes the least recently used first)."""
    try:
        if time.time() - os.fstat(fh.fileno()).st_mtime > USED_EVERY_S:
            os.utime(path)
    except OSError:
        pass


@dataclass(frozen=True)
class Trimmed:
    """What one trim found and did."""

    files: int          # cache files before
    size: int           # their bytes before
    removed: int
    freed: int


def limits() -> tuple[int, float]:
    """(most bytes, most seconds unused) the cache may keep, from $MPS_VERIFY_CACHE_MAX_MB/_MAX_DAYS."""
    out = []
    for env, default, unit in ((MAX_MB_ENV, DEFAULT_MAX_MB, 2 ** 20), (MAX_DAYS_ENV, DEFAULT_MAX_DAYS, 86400)):
        text = os.environ.get(env, "").strip()
        try:
            value = float(text) if text else default
        except ValueError:
            value = -1
        if not value >= 0:
            raise UsageError(f"{env}={text!r}: expected a number >= 0")
        out.append(value * unit)
    return int(out[0]), out[1]


def trim(root: Path | None = None, max_bytes: int | None = None, max_age_s: float | None = None,
         force: bool = False, now: float | None = None) -> Trimmed | None:
    """Remove cache files unused for `max_age_s`, then the least recently used until the folder holds at
    most 80% of `max_bytes` (defaults: limits()). At most once per TRIM_EVERY_S unless `force`; None when
    not due or there is no cache folder."""
    default_bytes, default_age = limits()      # a bad setting is an error on every run, due or not
    max_bytes = default_bytes if max_bytes is None else max_bytes
    max_age_s = default_age if max_age_s is None else max_age_s
    root = cache_root() if root is None else root
    now = time.time() if now is None else now
    stamp = root / STAMP
    try:
        if not force and now - stamp.stat().st_mtime < TRIM_EVERY_S:
            return None
        stamp.touch()
    except FileNotFoundError:
        if not root.is_dir():
            return None
        stamp.touch()
    except OSError:
        return None                     # a read-only cache is never written, so never grows
    files = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except OSError:
                continue                # removed meanwhile by another run
            if name == STAMP:
                continue
            if name.startswith(".tmp-") and now - st.st_mtime > USED_EVERY_S:
                files.append((0.0, st.st_size, path))     # half-written by a run that died: never used
            else:
                files.append((st.st_mtime, st.st_size, path))
    size = sum(f[1] for f in files)
    files.sort()                        # least recently used first
    keep, removed, freed = size, 0, 0
    target = 0.8 * max_bytes if size > max_bytes else max_bytes   # over the limit: room for a few runs
    for used, nbytes, path in files:
        if now - used <= max_age_s and keep <= target:
            break
        try:
            os.unlink(path)
        except OSError:
            continue
        keep -= nbytes
        removed += 1
        freed += nbytes
    return Trimmed(len(files), size, removed, freed)
