"""Real temporary git repositories for the gate's tests: a fork of our gate fixtures, and commits on it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FIX = Path(__file__).resolve().parent / "fixtures"
NATIVE = "aten/src/ATen/native/mps"
CORE = "aten/src/ATen/mps"


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` (checked); its standard output."""
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def commit(repo: Path, message: str) -> None:
    """Commit everything in the work tree."""
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)


def make_fork(tmp_path: Path, *config: tuple[str, str]) -> Path:
    """A fork whose base commit has a clean op, an op with old debt and an annotated header."""
    repo = tmp_path / "fork"
    (repo / NATIVE).mkdir(parents=True)
    (repo / CORE).mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for key, value in config:
        git(repo, "config", key, value)
    shutil.copy(FIX / "gate" / "Ops.mm", repo / NATIVE / "Ops.mm")
    shutil.copy(FIX / "gate" / "Legacy.mm", repo / NATIVE / "Legacy.mm")
    shutil.copy(FIX / "gate" / "MPSCounters.h", repo / CORE / "MPSCounters.h")
    (repo / "README").write_text("fork\n")
    commit(repo, "base")
    return repo
