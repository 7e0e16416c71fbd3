"""Which files to analyse: C++/ObjC++ sources under the given paths, minus --exclude globs."""

from __future__ import annotations

import os
from fnmatch import fnmatch
from pathlib import Path

from mpsverify_base.errors import UsageError

SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".mm", ".m")


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


def discover(paths: list[Path], root: Path, exclude: tuple[str, ...] = ()) -> list[tuple[Path, str]]:
    """(path, path relative to root) for every source file, sorted and without duplicates."""
    root = root.resolve()
    found: dict[str, Path] = {}
    for path in paths:
        if not path.exists():
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
                        found.setdefault(rel, Path(folder) / name)
        elif path.name.endswith(SUFFIXES):
            found.setdefault(relative(path, root), path)
        else:
            raise UsageError(f"{path}: not a C++/ObjC++ source ({', '.join(SUFFIXES)})")
    return [(found[rel], rel) for rel in sorted(found) if not excluded(rel, exclude)]
