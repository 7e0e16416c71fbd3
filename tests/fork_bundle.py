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
