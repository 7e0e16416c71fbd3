"""Shared helpers of the hostile-input suite: real temporary git repositories and the commands as subprocesses."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
NATIVE = "aten/src/ATen/native/mps"
CORE = "aten/src/ATen/mps"
HAZARD = FIX / "structural" / "ST.001.a_flag.mm"      # an error-severity finding (ST.001.a)


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` (checked)."""
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def commit(repo: Path, message: str) -> None:
    """Commit everything in the work tree."""
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)


@pytest.fixture
def fork(tmp_path: Path) -> Path:
    """A fork whose base commit has a clean op, an op with old debt and an annotated header."""
    repo = tmp_path / "fork"
    (repo / NATIVE).mkdir(parents=True)
    (repo / CORE).mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "core.quotepath", "true")     # the default: names git would quote
    shutil.copy(FIX / "gate" / "Ops.mm", repo / NATIVE / "Ops.mm")
    shutil.copy(FIX / "gate" / "Legacy.mm", repo / NATIVE / "Legacy.mm")
    shutil.copy(FIX / "gate" / "MPSCounters.h", repo / CORE / "MPSCounters.h")
    (repo / "README").write_text("fork\n")
    commit(repo, "base")
    return repo


def run(module: str, *args: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 300):
    """`python -m module args...` from the project root (this tree's code)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("GITHUB_ACTIONS", None)
    full_env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=cwd,
                          env=full_env, timeout=timeout)


def gate(repo: Path, *extra: str, env: dict | None = None):
    """The gate on the last commit against the one before it."""
    return run("checks.gate", "--base", "HEAD~1", "--repo", str(repo), "--no-cache", *extra, env=env)
