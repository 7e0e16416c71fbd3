"""`python -m checks.corpus`: fetch the PyTorch 2.6.0 MPS tree from Debian's `pytorch` source package,
and (`--scaling`) nested subsets of the whole source of 5, 10 and 20 MB for the scaling benchmark.

The apt configuration is private (its own sources list, lists and download folder) and the archive
address is read from the machine's own apt sources, so nothing here names a registry host.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from checks import cli
from checks.sources import CORPUS_DIR, MPS_SUBDIRS

PACKAGE = "pytorch"
VERSION = "2.6.0+dfsg-7"
SUITE = "trixie"
ORIG = "pytorch_2.6.0+dfsg.orig.tar.xz"
SYSTEM_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))
SCALING_MB = (5, 10, 20)
SCALING_SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".mm", ".m")   # what the analyzer reads (discover.SUFFIXES)


def archive_uri(candidates: tuple[Path, ...] = SYSTEM_SOURCES) -> str:
    """The Debian archive URI of the machine's apt configuration (not its security archive)."""
    for path in candidates:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        uris = re.findall(r"^URIs:\s*(\S+)", text, re.M) + re.findall(r"^deb(?:-src)?\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M)
        for uri in uris:
            if "security" not in uri:
                return uri.rstrip("/")
    raise cli.UsageError("no Debian archive found in the machine's apt sources "
                         f"({', '.join(map(str, candidates))}); cannot fetch the corpus")


def _apt(args: list[str], state: Path, cwd: Path) -> None:
    opts = ["-o", "Dir::Etc::SourceList=/dev/null", "-o", f"Dir::Etc::SourceParts={state / 'parts'}",
            "-o", f"Dir::State::Lists={state / 'lists'}", "-o", "Debug::NoLocking=1", "-q"]
    proc = subprocess.run(["apt-get", *opts, *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise cli.UsageError(f"apt-get {args[0]} failed: {tail[0]}")


def download(work: Path) -> Path:
    """Download the source package's orig tarball into `work` through a private apt setup."""
    if shutil.which("apt-get") is None:
        raise cli.ToolMissing("apt-get not found; the corpus comes from Debian's source package "
                              f"{PACKAGE} {VERSION} - fetch {ORIG} by hand and pass it with --tarball")
    (work / "parts").mkdir(parents=True)
    (work / "lists" / "partial").mkdir(parents=True)
    (work / "parts" / "corpus.sources").write_text(
        f"Types: deb-src\nURIs: {archive_uri()}\nSuites: {SUITE}\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n", encoding="utf-8")
    _apt(["update"], work, work)
    _apt(["source", "--download-only", f"{PACKAGE}={VERSION}"], work, work)
    tarball = work / ORIG
    if not tarball.is_file():
        raise cli.UsageError(f"apt-get source did not produce {ORIG}")
    return tarball


def extract(tarball: Path, dest: Path) -> int:
    """Extract only the MPS folders of the tarball into `dest`; return the number of files."""
    count = 0
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(tarball, "r:xz") as tar:
        for member in tar:
            parts = member.name.split("/", 1)
            if len(parts) < 2 or not member.isfile():
                continue
            rel = parts[1]
            if any(rel.startswith(sub + "/") for sub in MPS_SUBDIRS):
                member.name = rel
                tar.extract(member, tmp, filter="data")
                count += 1
    if count == 0:
        raise cli.UsageError(f"{tarball} holds no aten/src/ATen/mps files")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    (dest / "SOURCE").write_text(f"Debian source package {PACKAGE} {VERSION} ({SUITE}), {ORIG}\n",
                                 encoding="utf-8")
    return count


def scaling_dir(mb: int, base: Path = CORPUS_DIR) -> Path:
    """Where the nested `mb`-megabyte subset of the 2.6.0 source lives."""
    return base.parent / f"scaling-{mb}mb"


def scaling_order(members: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The sources in subset order: the MPS tree first, then every other source by path, so that each
    prefix is a real tree and the 5 MB subset is inside the 10 MB one, which is inside the 20 MB one."""
    sources = [(rel, size) for rel, size in members if rel.endswith(SCALING_SUFFIXES)]
    return sorted(sources, key=lambda m: (not any(m[0].startswith(sub + "/") for sub in MPS_SUBDIRS), m[0]))


def _members(tarball: Path) -> list[tuple[str, int]]:
    """(path inside the package, size) of the tarball's regular files, read as a stream."""
    with tarfile.open(tarball, "r|xz") as tar:
        return [(m.name.split("/", 1)[1], m.size) for m in tar if m.isfile() and "/" in m.name]


def _safe(rel: str) -> bool:
    return not rel.startswith("/") and ".." not in Path(rel).parts


def extract_scaling(tarball: Path, base: Path, sizes: tuple[int, ...] = SCALING_MB) -> dict[int, int]:
    """Extract the nested subsets (at least `sizes` MB of source, 10^6 bytes) next to `base`; files per subset."""
    order = scaling_order(_members(tarball))
    wanted: dict[str, list[int]] = {}
    for mb in sizes:
        total = 0
        for rel, size in order:     # the shortest prefix of at least `mb` MB
            if total >= mb * 10**6:
                break
            total += size
            wanted.setdefault(rel, []).append(mb)
    tmp = {mb: scaling_dir(mb, base).with_name(scaling_dir(mb, base).name + ".partial") for mb in sizes}
    for path in tmp.values():
        shutil.rmtree(path, ignore_errors=True)
    # streamed once and each file written to every subset holding it: an xz tarball cannot seek back cheaply
    with tarfile.open(tarball, "r|xz") as tar:
        for member in tar:
            rel = member.name.split("/", 1)[-1]
            if rel not in wanted or not member.isfile() or not _safe(rel):
                continue
            data = tar.extractfile(member).read()
            for mb in wanted[rel]:
                out = tmp[mb] / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(data)
    counts = {mb: sum(1 for subsets in wanted.values() if mb in subsets) for mb in sizes}
    for mb in sizes:
        dest = scaling_dir(mb, base)
        shutil.rmtree(dest, ignore_errors=True)
        tmp[mb].mkdir(parents=True, exist_ok=True)
        tmp[mb].rename(dest)
        (dest / "SOURCE").write_text(f"{counts[mb]} sources, the shortest prefix of at least {mb} MB, of {ORIG}: the MPS tree first, "
                                     f"then the rest by path\n", encoding="utf-8")
    return counts


def _tarball(given: Path | None, keep: Path) -> Path:
    """The orig tarball: the one given, the one a first fetch kept, or a fresh download (kept)."""
    if given:
        if not given.is_file():
            raise cli.UsageError(f"{given}: no such file")
        return given
    if keep.is_file():
        return keep
    with tempfile.TemporaryDirectory(prefix="mps-verify-corpus-", dir=keep.parent) as tmp:
        os.replace(download(Path(tmp)), keep)
    return keep


def main(argv: list[str]) -> int:
    """Fetch (if needed) and extract the corpus; print where it is."""
    p = cli.parser("python -m checks.corpus", "Fetch the PyTorch 2.6.0 MPS tree (Debian source package).")
    p.add_argument("--dest", type=Path, default=CORPUS_DIR, help="where to put the tree")
    p.add_argument("--tarball", type=Path, help=f"use an already downloaded {ORIG}")
    p.add_argument("--force", action="store_true", help="fetch again even if present")
    p.add_argument("--scaling", action="store_true",
                   help=f"also extract nested subsets of {', '.join(map(str, SCALING_MB))} MB of the whole "
                        "source next to the tree (for `make bench-scaling`)")
    args = p.parse_args(argv)
    args.dest.parent.mkdir(parents=True, exist_ok=True)
    keep = args.dest.parent / ORIG
    if (args.dest / "SOURCE").is_file() and not args.force:
        print(f"corpus present: {args.dest}")
    else:
        count = extract(_tarball(args.tarball, keep), args.dest)
        print(f"corpus ready: {args.dest} ({count} files from {PACKAGE} {VERSION})")
    if args.scaling:
        if all((scaling_dir(mb, args.dest) / "SOURCE").is_file() for mb in SCALING_MB) and not args.force:
            print(f"scaling subsets present: {scaling_dir(SCALING_MB[0], args.dest).parent}/scaling-*mb")
            return 0
        counts = extract_scaling(_tarball(args.tarball, keep), args.dest)
        for mb, n in counts.items():
            print(f"scaling subset ready: {scaling_dir(mb, args.dest)} ({n} files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
