"""Throughput measurements inside one process: thread scaling, batch sizes, batcher vs threads vs offline.

Every function takes `call(batch)` (runs the model on a device batch and synchronises the device, so the
clock reads finished work), interleaves repetitions (rep 0 of every setting, then rep 1, ...) and
returns rows {"kind", "param", "rep", "metric", "value"} for the results database.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Sequence

from runtime_tests.batcher import BatchQueue

Row = dict[str, Any]


def _row(kind: str, param: Any, rep: int, metric: str, value: float) -> Row:
    return {"kind": kind, "param": str(param), "rep": rep, "metric": metric, "value": float(value)}


def _threads(work: Callable[[float], int], count: int, seconds: float) -> tuple[int, float]:
    """Run `work(deadline)` on `count` threads started together; (operations done, elapsed seconds)."""
    done = [0] * count
    errors: list[BaseException] = []
    barrier = threading.Barrier(count + 1)

    def body(i: int) -> None:
        barrier.wait()
        try:
            done[i] = work(start + seconds)
        except BaseException as exc:  # surfaced to the caller below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return sum(done), elapsed


def _loop(step: Callable[[], None], latencies: list[float] | None = None) -> Callable[[float], int]:
    def work(deadline: float) -> int:
        n = 0
        while (now := time.perf_counter()) < deadline:
            step()
            if latencies is not None:
                latencies.append(time.perf_counter() - now)
            n += 1
        return n
    return work


def scaling(call: Callable, sample, counts: Sequence[int], reps: int, seconds: float) -> list[Row]:
    """ops/s of batch-1 requests at each thread count, `reps` interleaved repetitions after a warm-up."""
    step = lambda: call(sample)  # noqa: E731
    for n in counts:
        _threads(_loop(step), n, seconds / 2)
    rows = []
    for rep in range(reps):
        order = list(counts) if rep % 2 == 0 else list(reversed(counts))
        for n in order:
            ops, elapsed = _threads(_loop(step), n, seconds)
            rows.append(_row("scaling", n, rep, "ops_per_s", ops / elapsed))
    return rows


def batching(call: Callable, batches: dict[int, Any], reps: int, seconds: float) -> list[Row]:
    """samples/s for each batch size (one thread), `reps` interleaved repetitions after a warm-up."""
    for batch in batches.values():
        _threads(_loop(lambda b=batch: call(b)), 1, seconds / 2)
    rows = []
    for rep in range(reps):
        for size, batch in batches.items():
            calls, elapsed = _threads(_loop(lambda b=batch: call(b)), 1, seconds)
            rows.append(_row("batching", size, rep, "samples_per_s", size * calls / elapsed))
    return rows


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def batcher(call: Callable, stack: Callable, sample, clients: int, max_delay_s: float, reps: int,
            seconds: float) -> list[Row]:
    """Requests/s and p50/p99 latency of batch-1 requests: `clients` plain threads, the same clients
    through a BatchQueue (max batch = clients), offline batches of `clients` samples on one thread
    (the ceiling), and the floor: the clients through a BatchQueue whose batch function does no work
    at all (the most requests/s any thread-based batcher reaches on this machine: every request still
    wakes its client thread and hands the GIL over). `stack(samples)` makes a device batch;
    `call(batch)` returns the synchronised output."""
    offline_batch = stack([sample] * clients)

    def plain(lat):
        return _threads(_loop(lambda: call(sample[None]), lat), clients, seconds), 1

    def batched(lat):
        with BatchQueue(lambda items: list(call(stack(items))), max_batch=clients,
                        max_delay_s=max_delay_s) as queue:
            return _threads(_loop(lambda: queue(sample), lat), clients, seconds), 1

    def offline(lat):
        return _threads(_loop(lambda: call(offline_batch), lat), 1, seconds), clients

    def floor(lat):
        with BatchQueue(lambda items: items, max_batch=clients, max_delay_s=max_delay_s) as queue:
            return _threads(_loop(lambda: queue(sample), lat), clients, seconds), 1

    modes = {"threads": plain, "batcher": batched, "offline": offline, "floor": floor}
    for run in modes.values():
        run(None)
    latencies: dict[str, list[float]] = {m: [] for m in modes}
    rows = []
    for rep in range(reps):
        for mode, run in modes.items():
            (ops, elapsed), per_op = run(latencies[mode])
            rows.append(_row("batcher", mode, rep, "requests_per_s", ops * per_op / elapsed))
    for mode, lat in latencies.items():
        rows.append(_row("batcher", mode, -1, "p50_ms", 1000 * _percentile(lat, 0.50)))
        rows.append(_row("batcher", mode, -1, "p99_ms", 1000 * _percentile(lat, 0.99)))
    return rows
