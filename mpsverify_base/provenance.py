"""What produced a result: tool versions and the git hash of the analysed tree."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from mpsverify_base import __version__


# one process for git's three questions, started at once and read when the result is due: a run's own work
# hides most of it (three git processes, one after another, were ~8 ms of every run)
_GIT = ('git -C "$1" rev-parse HEAD || exit 1; git -C "$1" check-ignore -q "$2" && exit 2; '
        'git -C "$1" status --porcelain --untracked-files=no')
GIT_TIMEOUT_S = 30


def _spawned(argv: list[str], read_end: int, write_end: int) -> tuple[int, bool]:
    """(pid, whether it leads a session of its own) of argv run with its output into write_end."""
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0), (os.POSIX_SPAWN_DUP2, write_end, 1),
               (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_CLOSE, read_end)]
    try:
        return os.posix_spawn(argv[0], argv, os.environ, file_actions=actions, setsid=True), True
    except NotImplementedError:          # a libc without POSIX_SPAWN_SETSID: git's own children then live on
        return os.posix_spawn(argv[0], argv, os.environ, file_actions=actions), False


def _git_started(path: Path) -> Callable[[], str | None]:
    """git_hash(path) begun now: the returned function waits for it. Spawned with os.posix_spawn, not
    subprocess, whose import (selectors, signal, threading) was ~5 ms of every run."""
    folder = path if path.is_dir() else path.parent
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return lambda: None
    try:
        pid, session = _spawned(["/bin/sh", "-c", _GIT, "sh", str(folder), str(path.resolve())], read_end,
                                write_end)
    except OSError:
        os.close(read_end)
        return lambda: None
    finally:
        os.close(write_end)

    def result() -> str | None:
        import select
        out, deadline, ended = b"", time.monotonic() + GIT_TIMEOUT_S, False
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while not ended and select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))[0]:
                chunk = pipe.read(65536)
                out, ended = out + chunk, not chunk
        if not ended:                    # the time is up: SIGKILL to git's whole session
            with contextlib.suppress(OSError):
                (os.killpg if session else os.kill)(pid, 9)
        _, status = os.waitpid(pid, 0)
        if not ended or not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            return None
        head, _, changes = out.decode("utf-8", "replace").partition("\n")
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
        info: dict[str, Any] = {
            "name": "mps-verify",
            "version": __version__,
            "git": own(),
            "python": sys.version.split()[0],        # platform.python_version(), without importing platform
        }
        if theirs is not None:
            info["target_git"] = theirs()
        if external:
            from mpsverify_base import tools     # shutil, re and importlib.resources: only when asked
            getters = {"java": tools.java_version, "tlc": tools.tlc_version, "clang": tools.clang_version,
                       "torch": tools.torch_version, "apalache": tools.apalache_version}
            for name in external:
                info[name] = getters[name]()
        return info
    return finish


def tool_info(target: Path | None = None, external: tuple[str, ...] = ()) -> dict[str, Any]:
    """The `tool` block of every machine-readable result; `external` names tools whose versions to add."""
    return started_tool_info(target, external)()
