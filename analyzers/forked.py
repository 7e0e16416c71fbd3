"""Run work in forked children that inherit this process's memory: the inputs (parsed models,
imported modules) are shared copy-on-write instead of pickled; only results come back, through a pipe.

This is how the engine uses more cores: the parent works alongside its children. A process pool
pickles every model to and from workers that start from scratch (measured on the 2.6.0 tree: no
faster than one core).
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any, Callable, Sequence


def available() -> bool:
    """Whether forking is safe here: POSIX, and no other thread that could hold a lock across the fork."""
    threading = sys.modules.get("threading")     # not imported: no thread was started through it
    return hasattr(os, "fork") and (threading is None or threading.active_count() == 1)


class Child:
    """A forked child computing one result: `wait()` gives it (or raises RuntimeError), `stop()` kills it."""

    def __init__(self, pid: int, read_end: int) -> None:
        self.pid, self.read_end = pid, read_end

    def wait(self) -> Any:
        """The child's result; RuntimeError (one line) when it failed or died."""
        with os.fdopen(self.read_end, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        if not payload:
            import signal
            how = (f"signal {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status)
                   else f"exit {os.WEXITSTATUS(status)}")
            raise RuntimeError(f"forked worker ended without a result ({how})")
        ok, value = pickle.loads(payload)
        if not ok:
            raise RuntimeError(f"forked worker failed: {value}")
        return value

    def stop(self) -> None:
        """Kill and reap the child (the parent failed: nobody will read its result)."""
        try:
            os.kill(self.pid, 9)         # SIGKILL, without importing signal
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.read_end)


def start(fn: Callable[[], Any]) -> Child:
    """Start `fn()` in a forked child."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, leave without running the parent's exit handlers
        status = 0
        try:
            os.close(read_end)
            try:
                payload = pickle.dumps((True, fn()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # noqa: BLE001 -- reported to the parent as one line
                payload = pickle.dumps((False, f"{type(exc).__name__}: {exc}"))
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        except BaseException:  # noqa: BLE001 -- the parent sees the missing result
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    return Child(pid, read_end)


def map_shared(fn: Callable[[Any], Any], items: Sequence[Any], workers: int,
               meanwhile: Callable[[], object] | None = None) -> list[Any]:
    """[fn(item) for item in items], computed by this process and `workers - 1` forked children that
    take the next item from a shared counter: whoever is free takes it, so the parent can first run
    `meanwhile()` (e.g. imports) without leaving a child idle at the end."""
    if workers <= 1:
        if meanwhile is not None:
            meanwhile()
        return [fn(item) for item in items]
    import multiprocessing

    context = multiprocessing.get_context("fork")
    counter, lock = context.RawValue("i", 0), context.Lock()

    def take() -> int:
        with lock:
            n = counter.value
            counter.value = n + 1
        return n

    def loop(encode: bool) -> dict[int, Any]:
        done: dict[int, Any] = {}
        while (n := take()) < len(items):
            result = fn(items[n])
            # a child pickles each result as it goes, so that only the parent's unpickling is left
            # once both are done
            done[n] = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL) if encode else result
        return done

    children = [start(lambda: loop(True)) for _ in range(workers - 1)]
    try:
        if meanwhile is not None:
            meanwhile()
        results = loop(False)
    except BaseException:
        for child in children:   # a child blocked writing its results would otherwise wait forever
            child.stop()
        raise
    for n, child in enumerate(children):
        try:
            done = child.wait()
        except BaseException:
            for other in children[n + 1:]:
                other.stop()
            raise
        for k in list(done):     # each pickle dropped once unpickled: not all of them next to all results
            results[k] = pickle.loads(done.pop(k))
        del done
    return [results[n] for n in range(len(items))]
