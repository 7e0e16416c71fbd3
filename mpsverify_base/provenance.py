"""What produced a result: tool versions and the git hash of the analysed tree."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

from mpsverify_base import __version__, tools


def git_hash(path: Path) -> str | None:
    """HEAD of the git checkout containing `path` (with '-dirty' when it has changes), else None.

    A path git ignores (e.g. a torch wheel inside a virtual environment in some checkout) is not
    part of that checkout, so it has no hash.
    """
    folder = path if path.is_dir() else path.parent
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        ignored = subprocess.run(["git", "-C", str(folder), "check-ignore", "-q", str(path.resolve())],
                                 capture_output=True, timeout=10)
        if ignored.returncode == 0:
            return None
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def tool_info(target: Path | None = None, external: tuple[str, ...] = ()) -> dict[str, Any]:
    """The `tool` block of every machine-readable result; `external` names tools whose versions to add."""
    getters = {"java": tools.java_version, "tlc": tools.tlc_version,
               "clang": tools.clang_version, "torch": tools.torch_version,
               "apalache": tools.apalache_version}
    info: dict[str, Any] = {
        "name": "mps-verify",
        "version": __version__,
        "git": git_hash(Path(__file__).resolve().parent),
        "python": platform.python_version(),
    }
    if target is not None:
        info["target_git"] = git_hash(target)
    for name in external:
        info[name] = getters[name]()
    return info
