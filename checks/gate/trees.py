"""Read a revision's files with git (no checkout, nothing from the revision is executed)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from checks.cli import ToolMissing, UsageError

SOURCE_SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".mm", ".m")


def _git(repo: Path, *args: str, binary: bool = False) -> str | bytes:
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=300)
    except FileNotFoundError as exc:
        raise ToolMissing("git not found; install git (`apt-get install git`, `xcode-select --install`)") from exc
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"git {' '.join(args[:2])}: {msg[-1] if msg else 'failed'}")
    return proc.stdout if binary else proc.stdout.decode("utf-8", "replace")


def repo_root(start: Path) -> Path:
    """The top of the git checkout containing `start` (a usage error outside one)."""
    if not start.exists():
        raise UsageError(f"{start}: no such directory")
    try:
        return Path(str(_git(start, "rev-parse", "--show-toplevel")).strip())
    except UsageError as exc:
        raise UsageError(f"{start} is not inside a git checkout") from exc


def resolve(repo: Path, rev: str) -> str:
    """The full commit hash of `rev` (a usage error naming the revision when it does not exist)."""
    try:
        return str(_git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")).strip()
    except UsageError as exc:
        raise UsageError(f"unknown revision {rev!r}") from exc


@dataclass(frozen=True)
class Tree:
    """The source files of one revision under the gated paths: repo-relative path -> content."""

    commit: str
    files: dict[str, bytes]


def read_tree(repo: Path, commit: str, paths: list[str]) -> Tree:
    """Read every C++/ObjC++ source under `paths` at `commit` (paths missing there are simply empty)."""
    listing = str(_git(repo, "ls-tree", "-r", "--name-only", commit, "--", *paths))
    wanted = [p for p in listing.splitlines() if p.endswith(SOURCE_SUFFIXES)]
    if not wanted:
        return Tree(commit, {})
    data = _git(repo, "archive", "--format=tar", commit, "--", *wanted, binary=True)
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            if member.isfile():
                extracted = tar.extractfile(member)
                if extracted is not None:
                    files[member.name] = extracted.read()
    return Tree(commit, files)


def read_file(repo: Path, commit: str, path: str) -> str | None:
    """One file's text at `commit` (None when the revision has no such file)."""
    listing = str(_git(repo, "ls-tree", "--name-only", commit, "--", path)).strip()
    if listing != path:
        return None
    return str(_git(repo, "show", f"{commit}:{path}"))


def materialise(tree: Tree, dest: Path) -> Path:
    """Write a tree's files under `dest` (plain data files; nothing is run) and return `dest`."""
    for rel, data in tree.files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return dest


def changed_files(base: Tree, head: Tree) -> set[str]:
    """Paths added, removed or modified between two trees."""
    return {p for p in base.files.keys() | head.files.keys() if base.files.get(p) != head.files.get(p)}
