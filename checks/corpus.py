"""`python -m checks.corpus`: fetch the PyTorch 2.6.0 MPS tree from Debian's `pytorch` source package.

The apt configuration is private (its own sources list, lists and download folder) and the archive
address is read from the machine's own apt sources, so nothing here names a registry host.
"""

from __future__ import annotations

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


def main(argv: list[str]) -> int:
    """Fetch (if needed) and extract the corpus; print where it is."""
    p = cli.parser("python -m checks.corpus", "Fetch the PyTorch 2.6.0 MPS tree (Debian source package).")
    p.add_argument("--dest", type=Path, default=CORPUS_DIR, help="where to put the tree")
    p.add_argument("--tarball", type=Path, help=f"use an already downloaded {ORIG}")
    p.add_argument("--force", action="store_true", help="fetch again even if present")
    args = p.parse_args(argv)
    if (args.dest / "SOURCE").is_file() and not args.force:
        print(f"corpus present: {args.dest}")
        return 0
    args.dest.parent.mkdir(parents=True, exist_ok=True)
    if args.tarball:
        if not args.tarball.is_file():
            raise cli.UsageError(f"{args.tarball}: no such file")
        count = extract(args.tarball, args.dest)
    else:
        with tempfile.TemporaryDirectory(prefix="mps-verify-corpus-") as tmp:
            count = extract(download(Path(tmp)), args.dest)
    print(f"corpus ready: {args.dest} ({count} files from {PACKAGE} {VERSION})")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
