"""Which files to analyse: C++/ObjC++ sources under the given paths, minus --exclude globs."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from analyzers.findings import Diagnostic
from mpsverify_base.errors import UsageError

SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".mm", ".m")
DEFAULT_MAX_BYTES = 16 * 1024 * 1024     # larger sources are skipped with a note (generated code, not MPS)


def common_root(paths: list[Path]) -> Path:
    """The deepest folder containing every path (a file's folder for a single file)."""
    folders = [p.resolve() if p.is_dir() else p.resolve().parent for p in paths]
    return Path(os.path.commonpath([str(f) for f in folders]))


def relative(path: Path, root: Path) -> str:
    """`path` relative to `root` with '/' separators (the absolute path when outside the root)."""
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def excluded(rel: str, patterns: tuple[str, ...]) -> bool:
    """Whether a relative path matches a glob, as a whole path, by name, or as a folder prefix."""
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch(rel, p) or fnmatch(name, p) or rel.startswith(p.rstrip("/") + "/") for p in patterns)


def _printable(rel: str) -> str:
    """A relative path for reports: bytes of a name that are not UTF-8 shown as \\xff (reports are UTF-8)."""
    try:
        rel.encode("utf-8")
        return rel
    except UnicodeEncodeError:
        return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class InputLimits:
    """What discovery reads: files up to `max_bytes`, symbolic links leaving the scanned tree only if asked."""

    max_bytes: int = DEFAULT_MAX_BYTES
    follow_symlinks: bool = False


def _skip_reason(full: Path, tree: Path | None, limits: InputLimits) -> str:
    """Why a source file is not read ('' to read it): links out of the tree, special files, huge files."""
    try:
        if tree is not None and not limits.follow_symlinks and full.is_symlink():
            target = full.resolve()
            if not target.is_relative_to(tree):
                return f"symbolic link to {target}, outside the scanned tree (--follow-symlinks reads it)"
        info = full.stat()
    except OSError as exc:
        return f"cannot read: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (FIFO, device or socket)"
    if info.st_size > limits.max_bytes:
        return f"{info.st_size} bytes, over the {limits.max_bytes}-byte limit (--max-file-bytes)"
    return ""


def discover_all(paths: list[Path], root: Path, exclude: tuple[str, ...] = (),
                 limits: InputLimits = InputLimits()) -> tuple[list[tuple[Path, str]], list[Diagnostic]]:
    """(path, path relative to root) for every source file, sorted and without duplicates, and a
    `skipped` diagnostic for each source not read (see _skip_reason)."""
    root = root.resolve()
    found: dict[str, tuple[Path, Path | None]] = {}
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"no such file or directory: {path}")
        if path.is_dir():
            base = path.resolve()      # once per folder: resolving every file is the slow part
            prefix = relative(base, root)
            for folder, dirs, files in os.walk(base):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                sub = os.path.relpath(folder, base).replace(os.sep, "/")
                for name in files:
                    if name.endswith(SUFFIXES):
                        rel = "/".join(p for p in (prefix if prefix != "." else "", sub if sub != "." else "",
                                                   name) if p)
                        found.setdefault(_printable(rel), (Path(folder) / name, base))
        elif path.name.endswith(SUFFIXES):
            found.setdefault(_printable(relative(path, root)), (path, None))   # named explicitly: followed if a link
        else:
            raise UsageError(f"{path}: not a C++/ObjC++ source ({', '.join(SUFFIXES)})")
    files, skipped = [], []
    for rel in sorted(found):
        if excluded(rel, exclude):
            continue
        full, tree = found[rel]
        reason = _skip_reason(full, tree, limits)
        if reason:
            skipped.append(Diagnostic(rel, 1, f"skipped: {reason}", "skipped"))
        else:
            files.append((full, rel))
    return files, skipped


def discover(paths: list[Path], root: Path, exclude: tuple[str, ...] = (),
             limits: InputLimits = InputLimits()) -> list[tuple[Path, str]]:
    """(path, path relative to root) for every source file that is read (see discover_all)."""
    return discover_all(paths, root, exclude, limits)[0]
