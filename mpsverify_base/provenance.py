"""What produced a result: tool versions and the git hash of the analysed tree."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
from pathlib import Path
from typing import Any, Callable

from mpsverify_base import __version__, tools


# one process for git's three questions, started at once and read when the result is due: a run's own work
# hides most of it (three git processes, one after another, were ~8 ms of every run)
_GIT = ('git -C "$1" rev-parse HEAD || exit 1; git -C "$1" check-ignore -q "$2" && exit 2; '
        'git -C "$1" status --porcelain --untracked-files=no')
GIT_TIMEOUT_S = 30


def _git_started(path: Path) -> Callable[[], str | None]:
    """git_hash(path) begun now: the returned function waits for it."""
    folder = path if path.is_dir() else path.parent
    try:
        proc = subprocess.Popen(["/bin/sh", "-c", _GIT, "sh", str(folder), str(path.resolve())],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, start_new_session=True)
    except OSError:
        return lambda: None

    def result() -> str | None:
        try:
            out, _ = proc.communicate(timeout=GIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None
        if proc.returncode != 0:
            return None
        head, _, changes = out.partition("\n")
        return head.strip() + ("-dirty" if changes.strip() else "")
    return result


def git_hash(path: Path) -> str | None:
    """HEAD of the git checkout containing `path` (with '-dirty' when it has changes), else None.

    A path git ignores (e.g. a torch wheel inside a virtual environment in some checkout) is not
    part of that checkout, so it has no hash.
    """
    return _git_started(path)()


def started_tool_info(target: Path | None = None, external: tuple[str, ...] = ()) -> Callable[[], dict[str, Any]]:
    """tool_info(target, external) with its git questions asked now: call the result when the work is done."""
    own = _git_started(Path(__file__).resolve().parent)
    theirs = _git_started(target) if target is not None else None

    def finish() -> dict[str, Any]:
        getters = {"java": tools.java_version, "tlc": tools.tlc_version,
                   "clang": tools.clang_version, "torch": tools.torch_version,
                   "apalache": tools.apalache_version}
        info: dict[str, Any] = {
            "name": "mps-verify",
            "version": __version__,
            "git": own(),
            "python": platform.python_version(),
        }
        if theirs is not None:
            info["target_git"] = theirs()
        for name in external:
            info[name] = getters[name]()
        return info
    return finish


def tool_info(target: Path | None = None, external: tuple[str, ...] = ()) -> dict[str, Any]:
    """The `tool` block of every machine-readable result; `external` names tools whose versions to add."""
    return started_tool_info(target, external)()
