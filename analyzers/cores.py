"""How many cores a run may use now: the ones this process may run on that the rest of the machine
leaves idle.

On Linux the answer comes from /proc/stat, sampled when this module is imported and again when asked
(the interpreter's start, imports and hashing the inputs give a window of 50 ms and more): the
1-minute load average lags by a minute and counts this very process's previous runs, so a benchmark
or an editor re-running the analyzer back to back always looked busy. Elsewhere the load average is
all there is.
"""

from __future__ import annotations

import os
import time

MIN_WINDOW = 8      # jiffies (1/100 s) summed over our CPUs below which a sample says too little
WAIT, MAX_WAITS = 0.01, 10   # a short window is lengthened in steps of 10 ms, up to 0.1 s


def allowed() -> set[int]:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def _sample(cpus: set[int]) -> tuple[int, int] | None:
    """(idle, all) jiffies so far over `cpus`, or None without /proc/stat."""
    idle = total = 0
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            for line in fh:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    if total:
                        break           # past the per-CPU lines
                    continue
                name, *fields = line.split()
                if int(name[3:]) in cpus:
                    values = [int(x) for x in fields[:8]]    # guest time is already in user time
                    idle += values[3] + (values[4] if len(values) > 4 else 0)
                    total += sum(values)
    except (OSError, ValueError):
        return None
    return (idle, total) if total else None


def _own() -> float:
    """CPU seconds of this process and of its children that have ended (forked workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


_START, _OWN = _sample(allowed()), _own()


def restart() -> None:
    """Start the window now: a long-lived process (checks.daemon) asks for each request, whose own start
    is what the module's import stands for in a one-shot run."""
    global _START, _OWN
    _START, _OWN = _sample(allowed()), _own()


def idle_cores() -> int:
    """Cores this process may use that nothing else is using (at least 1): the busy time of the window
    less this process's own and its ended workers' (at least one core: it ran) is other work."""
    cpus = allowed()
    now = _sample(cpus)
    # A command that decides soon after its imports (checks.tsa) has too short a window: wait for one
    # rather than fall back to the load average, which the benchmark's own back-to-back runs keep high
    # (it gave `tsa` one process there, 1.4x slower). Asked only before parsing 1 MB or more.
    for _ in range(MAX_WAITS):
        if _START is None or now is None or now[1] - _START[1] >= MIN_WINDOW:
            break
        time.sleep(WAIT)
        now = _sample(cpus)
    if _START is not None and now is not None and now[1] - _START[1] >= MIN_WINDOW:
        window = now[1] - _START[1]
        busy = len(cpus) * (1 - (now[0] - _START[0]) / window)
        # jiffies are 1/100 s on every CPU: the window's wall time is window / (100 * CPUs); a parse spread
        # over forked workers made the busy time ours, and the next decision gave one process
        own = (_own() - _OWN) * 100 * len(cpus) / window
        others = max(0.0, busy - max(1.0, own))
        return max(1, min(len(cpus), len(cpus) - round(others)))
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, min(len(cpus), int(len(cpus) - load + 0.5)))
