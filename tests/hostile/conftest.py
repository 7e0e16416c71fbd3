"""Shared helpers of the hostile-input suite: real temporary git repositories and the commands as subprocesses."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gitrepo import make_fork

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
NATIVE = "aten/src/ATen/native/mps"
CORE = "aten/src/ATen/mps"
HAZARD = FIX / "structural" / "ST.001.a_flag.mm"      # an error-severity finding (ST.001.a)


@pytest.fixture
def fork(tmp_path: Path) -> Path:
    """A fork whose base commit has a clean op, an op with old debt and an annotated header."""
    return make_fork(tmp_path, ("core.quotepath", "true"))     # the default: names git would quote


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
