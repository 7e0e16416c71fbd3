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

import threading
import time
from collections import deque
from typing import Any, Callable, Sequence


class BatchQueueClosed(RuntimeError):
    """The request was rejected because the queue is shut down."""


class Reply:
    """One request's own answer slot, set exactly once (a light stand-in for concurrent.futures.Future).

    A lock held from creation and released when the answer is set is the cheapest one-shot wake-up
    CPython has; a Future's condition variable costs several times more per request, which shows at
    tens of thousands of requests per second.
    """

    __slots__ = ("_ready", "_value", "_error")

    def __init__(self) -> None:
        self._ready = threading.Lock()
        self._ready.acquire()
        self._value: Any = None
        self._error: BaseException | None = None

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
                 max_delay_s: float = 0.002) -> None:
        if max_batch < 1 or max_delay_s < 0:
            raise ValueError("max_batch must be >= 1 and max_delay_s >= 0")
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
        reply = Reply()
        with self._cond:
            if self._closing:
                reply.set_exception(BatchQueueClosed("batch queue is shut down"))
                return reply
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
            self._closing = True
            if not drain:
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
                return None  # closing and nothing left: the worker ends
            deadline = self._queue[0][0] + self._max_delay
            while len(self._queue) < self._max_batch and not self._closing:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                self._cond.wait(left)
            count = min(self._max_batch, len(self._queue))
            return [self._queue.popleft() for _ in range(count)]

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            self.batch_sizes.append(len(batch))
            futures = [f for _, _, f in batch]
            try:
                results = list(self._fn([item for _, item, _ in batch]))
                if len(results) != len(batch):
                    raise RuntimeError(f"batch function returned {len(results)} results for {len(batch)} requests")
            except BaseException as exc:  # the batch's clients see the error; the worker goes on
                for f in futures:
                    f.set_exception(exc)
                continue
            for f, result in zip(futures, results):
                f.set_result(result)
