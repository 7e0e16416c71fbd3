"""The dML stream-pool fork PR (../shared/corpora/dml-stream-pool-pr.bundle), cloned for tests that need it.

The bundle is data outside the project: tests that use it skip, saying why, when it is absent
(MPS_VERIFY_FORK_BUNDLE points at another copy).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from checks.sources import REPO_ROOT

BUNDLE = Path(os.environ.get("MPS_VERIFY_FORK_BUNDLE",
                             REPO_ROOT.parent / "shared" / "corpora" / "dml-stream-pool-pr.bundle"))


def clone_fork(dest: Path) -> Path:
    """Clone the bundle's master (head: the PR) into dest, or skip the test with the reason."""
    if not BUNDLE.is_file():
        pytest.skip(f"fork PR bundle not found at {BUNDLE} (set MPS_VERIFY_FORK_BUNDLE)")
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    subprocess.run(["git", "clone", "-q", str(BUNDLE), str(dest), "-b", "master"], check=True,
                   capture_output=True, timeout=120)
    return dest


def base_and_heads(dest: Path) -> tuple[Path, list[tuple[str, bytes]]]:
    """The fork PR cloned into dest and checked out at its base, and each file the PR changes with its head
    version (or skip the test, as clone_fork)."""
    repo = clone_fork(dest)
    git = ["git", "-C", str(repo)]
    changed = subprocess.run([*git, "diff", "--name-only", "HEAD~1", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.split()
    heads = [(rel, subprocess.run([*git, "show", f"HEAD:{rel}"], capture_output=True, check=True).stdout)
             for rel in changed]
    subprocess.run([*git, "checkout", "-q", "HEAD~1"], check=True, capture_output=True)
    return repo, heads

