"""A dynamic batcher, the implementation of the `BatchQueue` TLA+ model (specs/BatchQueue.tla).

N clients submit single requests; one worker forms batches of at most `max_batch`, waiting at most
`max_delay_s` after the oldest queued request; each client gets its own result through its own Reply.
Shutdown answers (drain: the model's "graceful" variant) or rejects every queued request, never drops
one. The model's invariants AnsweredOnce and OwnResult and its liveness property AllAnswered are what
runtime_tests/test_batcher.py checks here; results go back through each request's own Reply, never by
position in the batch (the model's refuted "scatter_by_position" variant), and nothing resubmits
(its refuted "client_retry").
"""

from __future__ import annotations

import gzip
import itertools
import json
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Sequence

RequestId = tuple[int, int]  # (client thread id, that client's n-th request), as the model's <<c, n>>


class EventLog:
    """The batcher's event log for trace validation against specs/BatchQueue.tla: submit, take (batch
    formed), answer (batch run, results about to be handed out), receive (a client got its answer),
    shutdown, reject, stop; each with a logical clock. Events that change the queue are recorded under
    the queue's lock, so clock order is an order the model can replay.

    Kept cheap for soaks: recording is one counter step and one list append of a tuple holding objects
    that exist anyway (request ids, the batch's id list); JSON is made only in write(). Request ids, not
    replies, are kept: a reply holds its result tensor."""

    def __init__(self, max_batch: int) -> None:
        self.max_batch = max_batch
        self.tick = itertools.count(1).__next__  # atomic under the GIL
        self.events: list[tuple] = []            # (clock, kind, payload[, payload])
        self.append = self.events.append
        self._sent: dict[int, int] = {}

    def record(self, kind: str, *payload: Any) -> None:
        """Append one event with the next clock value."""
        self.append((self.tick(), kind, *payload))

    def next_request(self) -> RequestId:
        """The calling thread's next request id (call under the queue's lock)."""
        client = threading.get_ident()
        n = self._sent.get(client, 0) + 1
        self._sent[client] = n
        return client, n

    @staticmethod
    def _fields(kind: str, payload: tuple) -> dict[str, Any]:
        if kind in ("submit", "receive"):
            return {"c": payload[0][0], "n": payload[0][1]}
        if kind == "reject":
            return {"c": payload[0]}
        if kind in ("take", "reject_queued"):
            return {"reqs": [list(r) for r in payload[0]]}
        if kind == "answer":
            return {"reqs": [list(r) for r in payload[0]], "got": [list(r) for r in payload[1]]}
        return {}

    def write(self, path: Path) -> int:
        """Write the log as JSON lines (gzip when the name ends in .gz); returns the number of events."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # level 1: a soak's log is ~10^6 lines, and level 9 would take longer than the soak
        with (gzip.open(path, "wt", encoding="utf-8", compresslevel=1) if path.suffix == ".gz"
              else open(path, "w", encoding="utf-8")) as f:
            f.write(json.dumps({"log": "batchqueue", "max_batch": self.max_batch}) + "\n")
            for clock, kind, *payload in sorted(self.events, key=lambda e: e[0]):
                f.write(json.dumps({"clock": clock, "event": kind, **self._fields(kind, payload)}) + "\n")
        return len(self.events)


class BatchQueueClosed(RuntimeError):
    """The request was rejected because the queue is shut down."""


class Reply:
    """One request's own answer slot, set exactly once (a light stand-in for concurrent.futures.Future).

    A lock held from creation and released when the answer is set is the cheapest one-shot wake-up
    CPython has; a Future's condition variable costs several times more per request, which shows at
    tens of thousands of requests per second.
    """

    __slots__ = ("_ready", "_value", "_error", "_log", "rid")

    def __init__(self, trace: tuple[EventLog, RequestId] | None = None) -> None:
        self._ready = threading.Lock()
        self._ready.acquire()
        self._value: Any = None
        self._error: BaseException | None = None
        # traced: the request id, and the log that gets "receive" the first time the answer is waited for
        self._log, self.rid = trace if trace is not None else (None, None)

    def set_result(self, value: Any) -> None:
        """Answer with a result (once)."""
        self._value = value
        self._ready.release()

    def set_exception(self, error: BaseException) -> None:
        """Answer with an error (once)."""
        self._error = error
        self._ready.release()

    def done(self) -> bool:
        """Whether the answer has been set."""
        return not self._ready.locked()

    def _wait(self, timeout: float | None) -> None:
        if not self._ready.acquire(timeout=-1 if timeout is None else timeout):
            raise TimeoutError("no answer within the timeout")
        self._ready.release()   # let later result()/exception() calls see it too
        if self._log is not None:
            log, self._log = self._log, None
            log.append((log.tick(), "receive", self.rid))

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the answer; raise the batch's error or BatchQueueClosed if that was the answer."""
        self._wait(timeout)
        if self._error is not None:
            raise self._error
        return self._value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Wait for the answer; the error it carries, or None."""
        self._wait(timeout)
        return self._error


class BatchQueue:
    """Batches single requests for `fn(list_of_items) -> list_of_results` (same length, same order)."""

    def __init__(self, fn: Callable[[Sequence[Any]], Sequence[Any]], max_batch: int = 8,
                 max_delay_s: float = 0.002, trace: EventLog | None = None) -> None:
        if max_batch < 1 or max_delay_s < 0:
            raise ValueError("max_batch must be >= 1 and max_delay_s >= 0")
        self.trace = trace
        self._fn = fn
        self._max_batch = max_batch
        self._max_delay = max_delay_s
        self._queue: deque[tuple[float, Any, Reply]] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self.batch_sizes: list[int] = []
        self._worker = threading.Thread(target=self._run, name="batchqueue-worker", daemon=True)
        self._worker.start()

    def submit(self, item: Any) -> Reply:
        """Queue one request; its Reply gets the result, the batch's exception, or BatchQueueClosed."""
        with self._cond:
            if self._closing:
                if self.trace is not None:
                    self.trace.record("reject", threading.get_ident())
                reply = Reply()
                reply.set_exception(BatchQueueClosed("batch queue is shut down"))
                return reply
            if self.trace is not None:
                rid = self.trace.next_request()
                self.trace.append((self.trace.tick(), "submit", rid))
                reply = Reply((self.trace, rid))
            else:
                reply = Reply()
            self._queue.append((time.perf_counter(), item, reply))
            # the worker waits either for a first request or for a full batch: wake it only then
            if len(self._queue) == 1 or len(self._queue) >= self._max_batch:
                self._cond.notify()
        return reply

    def __call__(self, item: Any, timeout: float | None = None) -> Any:
        """Submit one request and wait for its result."""
        return self.submit(item).result(timeout)

    def close(self, drain: bool = True, timeout: float | None = None) -> None:
        """Shut down: answer every queued request (drain) or reject each with BatchQueueClosed."""
        with self._cond:
            if not self._closing and self.trace is not None:
                self.trace.record("shutdown")
            self._closing = True
            if not drain:
                if self.trace is not None and self._queue:  # not in the model: validation names this event
                    self.trace.record("reject_queued", [e[2].rid for e in self._queue])
                while self._queue:
                    self._queue.popleft()[2].set_exception(BatchQueueClosed("batch queue shut down"))
            self._cond.notify_all()
        self._worker.join(timeout)

    def __enter__(self) -> "BatchQueue":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_batch(self) -> list[tuple[float, Any, Reply]] | None:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if not self._queue:
                if self.trace is not None:
                    self.trace.record("stop")
                return None  # closing and nothing left: the worker ends
            deadline = self._queue[0][0] + self._max_delay
            while len(self._queue) < self._max_batch and not self._closing:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                self._cond.wait(left)
            count = min(self._max_batch, len(self._queue))
            batch = [self._queue.popleft() for _ in range(count)]
            if self.trace is not None:
                self.trace.append((self.trace.tick(), "take", [e[2].rid for e in batch]))
            return batch

    def _answered(self, replies: list[Reply], owners: list[Reply]) -> None:
        """Record the batch's answer before any reply is set: reply i gets the result computed for
        `owners[i]`'s request (its own, in this batcher)."""
        if self.trace is not None:
            rids = [r.rid for r in replies]
            self.trace.append((self.trace.tick(), "answer", rids,
                               rids if owners is replies else [o.rid for o in owners]))

    def _deliver(self, replies: list[Reply], results: list[Any]) -> None:
        """Hand each reply the result at its own position in the batch."""
        self._answered(replies, replies)
        for reply, result in zip(replies, results):
            reply.set_result(result)

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            self.batch_sizes.append(len(batch))
            futures = [f for _, _, f in batch]
            try:
                results = list(self._fn([item for _, item, _ in batch]))
                if len(results) != len(batch):
                    raise RuntimeError(f"batch function returned {len(results)} results for {len(batch)} requests")
            except BaseException as exc:  # the batch's clients see the error; the worker goes on
                self._answered(futures, futures)
                for f in futures:
                    f.set_exception(exc)
                continue
            self._deliver(futures, results)

