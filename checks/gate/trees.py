"""Read a revision's files with git (no checkout, nothing from the revision is executed)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from checks.cli import ToolMissing, UsageError

SOURCE_SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".mm", ".m")
DEFAULT_MAX_BYTES = 16 * 1024 * 1024      # a source larger than this is skipped with a note


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
    """The source files of one revision under the gated paths: repo-relative path -> content.

    `skipped` names what was left out and why (symlinks, submodules, files over the size limit);
    `entries` counts everything under the paths (sources or not), so an empty match is told apart."""

    commit: str
    files: dict[str, bytes]
    skipped: tuple[tuple[str, str], ...] = ()
    entries: dict[str, int] = field(default_factory=dict)     # gated path -> entries under it


def _ls_tree(repo: Path, commit: str, paths: list[str]) -> list[tuple[str, str, str, str, str]]:
    """(mode, type, object, size, path) of every entry under `paths`: NUL-separated, so a name git would
    quote (non-ASCII, quotes, tab, newline, backslash) arrives as it is; pathspecs taken literally."""
    raw = _git(repo, "--literal-pathspecs", "ls-tree", "-r", "-z", "--long", "--full-tree", commit, "--", *paths,
               binary=True)
    out = []
    for record in bytes(raw).split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, kind, obj, size = meta.decode("ascii").split()
        out.append((mode, kind, obj, size, name.decode("utf-8", "backslashreplace")))   # invalid UTF-8 shows as \xff
    return out


def _cat_blobs(repo: Path, objects: list[str]) -> list[bytes]:
    """The raw content of blobs, as stored: no .gitattributes (export-ignore, working-tree-encoding,
    filters) of the revision applies, so what is analysed is byte for byte what reviewers see."""
    if not objects:
        return []
    try:
        proc = subprocess.run(["git", "-C", str(repo), "cat-file", "--batch"], input="\n".join(objects).encode() + b"\n",
                              capture_output=True, timeout=300)
    except FileNotFoundError as exc:
        raise ToolMissing("git not found; install git (`apt-get install git`, `xcode-select --install`)") from exc
    if proc.returncode != 0:
        raise UsageError(f"git cat-file: {proc.stderr.decode('utf-8', 'replace').strip() or 'failed'}")
    data, at, blobs = proc.stdout, 0, []
    for obj in objects:
        end = data.index(b"\n", at)
        header = data[at:end].split()
        if len(header) != 3 or header[0].decode() != obj:
            raise UsageError(f"git cat-file: unexpected answer for {obj}")
        size = int(header[2])
        blobs.append(data[end + 1:end + 1 + size])
        at = end + 1 + size + 1
    return blobs


def read_tree(repo: Path, commit: str, paths: list[str], max_bytes: int = DEFAULT_MAX_BYTES) -> Tree:
    """Read every C++/ObjC++ source under `paths` at `commit` (paths missing there are simply empty)."""
    entries = _ls_tree(repo, commit, paths)
    counts = {p: sum(1 for e in entries if e[4] == p or e[4].startswith(p.rstrip("/") + "/") or not p)
              for p in paths}
    wanted, skipped = [], []
    for mode, kind, obj, size, name in entries:
        if not name.endswith(SOURCE_SUFFIXES):
            continue
        if kind != "blob" or mode == "120000":
            skipped.append((name, "a symbolic link" if mode == "120000" else f"a {kind} (submodule)"))
        elif int(size) > max_bytes:
            skipped.append((name, f"{int(size)} bytes, over the {max_bytes}-byte limit"))
        else:
            wanted.append((name, obj))
    blobs = _cat_blobs(repo, [obj for _, obj in wanted])
    return Tree(commit, {name: blob for (name, _), blob in zip(wanted, blobs)}, tuple(skipped), counts)


def read_file(repo: Path, commit: str, path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str | None:
    """One regular file's text at `commit`, as stored (None when the revision has no such file, or a link)."""
    entries = [e for e in _ls_tree(repo, commit, [path]) if e[4] == path]
    if not entries or entries[0][1] != "blob" or entries[0][0] == "120000":
        return None
    if int(entries[0][3]) > max_bytes:
        raise UsageError(f"{path} at {commit[:12]}: {entries[0][3]} bytes, over the {max_bytes}-byte limit")
    return _cat_blobs(repo, [entries[0][2]])[0].decode("utf-8", "replace")


def materialise(tree: Tree, dest: Path) -> Path:
    """Write a tree's files under `dest` (plain data files; nothing is run) and return `dest`."""
    for rel, data in tree.files.items():
        if rel.startswith("/") or ".." in rel.split("/"):
            raise UsageError(f"refusing to write {rel!r} outside the work folder")
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return dest


def changed_files(base: Tree, head: Tree) -> set[str]:
    """Paths added, removed or modified between two trees."""
    return {p for p in base.files.keys() | head.files.keys() if base.files.get(p) != head.files.get(p)}
