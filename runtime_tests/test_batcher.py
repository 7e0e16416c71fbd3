"""The BatchQueue keeps the safety and liveness of the TLA+ model: every request answered exactly once,
with its own result, also across shutdown."""

import threading
import time

import pytest

from runtime_tests.batcher import BatchQueue, BatchQueueClosed, Reply

pytestmark = pytest.mark.quick


class Recorder:
    """A batch function that doubles each item and counts how often each item was processed."""

    def __init__(self, delay: float = 0.0):
        self.seen: dict[int, int] = {}
        self.lock = threading.Lock()
        self.delay = delay

    def __call__(self, items):
        time.sleep(self.delay)
        with self.lock:
            for item in items:
                self.seen[item] = self.seen.get(item, 0) + 1
        return [2 * item for item in items]


def answered_once(futures: list[Reply], recorder: Recorder, expect=lambda i: 2 * i) -> list[str]:
    """Problems with the model's invariants: unanswered, wrong result, processed twice."""
    problems = []
    for i, f in enumerate(futures):
        if not f.done():
            problems.append(f"request {i} never answered")
        elif f.exception() is None and f.result() != expect(i):
            problems.append(f"request {i} got {f.result()}")
    problems += [f"request {i} processed {n} times" for i, n in recorder.seen.items() if n != 1]
    return problems


def test_many_clients_each_get_their_own_result_exactly_once():
    recorder = Recorder()
    futures: list[Reply] = [None] * 16 * 100

    def client(c):
        for k in range(100):
            i = c * 100 + k
            futures[i] = queue.submit(i)
            assert futures[i].result(timeout=10) == 2 * i

    with BatchQueue(recorder, max_batch=8, max_delay_s=0.001) as queue:
        threads = [threading.Thread(target=client, args=(c,)) for c in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert answered_once(futures, recorder) == []
    assert max(queue.batch_sizes) <= 8 and max(queue.batch_sizes) > 1  # batches really formed
    assert sum(queue.batch_sizes) == 1600


def test_a_lone_request_is_flushed_after_the_delay():
    with BatchQueue(Recorder(), max_batch=64, max_delay_s=0.02) as queue:
        start = time.perf_counter()
        assert queue(21, timeout=5) == 42
        assert 0.015 <= time.perf_counter() - start < 2.0


@pytest.mark.parametrize("drain", [True, False])
def test_shutdown_answers_or_rejects_every_queued_request(drain):
    recorder = Recorder(delay=0.01)
    queue = BatchQueue(recorder, max_batch=4, max_delay_s=0.0)
    futures = [queue.submit(i) for i in range(40)]
    queue.close(drain=drain, timeout=10)
    assert answered_once(futures, recorder) == []
    rejected = [f for f in futures if isinstance(f.exception(), BatchQueueClosed)]
    assert (len(rejected) == 0) if drain else (len(rejected) > 0)
    late = queue.submit(99)
    assert isinstance(late.exception(timeout=1), BatchQueueClosed)


def test_shutdown_while_clients_submit_never_leaves_a_request_waiting():
    recorder = Recorder()
    queue = BatchQueue(recorder, max_batch=8, max_delay_s=0.001)
    futures: list[list[Reply]] = [[] for _ in range(8)]

    def client(c):
        for k in range(500):
            futures[c].append(queue.submit(c * 1000 + k))

    threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.005)
    queue.close(drain=False, timeout=10)
    for t in threads:
        t.join()
    flat = [f for fs in futures for f in fs]
    assert all(f.done() for f in flat)
    for f in flat:
        assert f.exception() is None or isinstance(f.exception(), BatchQueueClosed)


def test_the_invariant_check_catches_a_batcher_that_drops_on_shutdown():
    class DropOnShutdown(BatchQueue):  # the BatchQueue_drop_on_shutdown bug variant
        def close(self, drain=True, timeout=None):
            with self._cond:
                self._closing = True
                self._queue.clear()
                self._cond.notify_all()
            self._worker.join(timeout)

    recorder = Recorder(delay=0.01)
    queue = DropOnShutdown(recorder, max_batch=4, max_delay_s=0.0)
    futures = [queue.submit(i) for i in range(40)]
    queue.close(timeout=10)
    assert any("never answered" in p for p in answered_once(futures, recorder))


def test_a_failing_batch_reaches_its_clients_and_the_worker_goes_on():
    def flaky(items):
        if 13 in items:
            raise ValueError("bad batch")
        return [2 * i for i in items]

    with BatchQueue(flaky, max_batch=1, max_delay_s=0.0) as queue:
        with pytest.raises(ValueError):
            queue(13, timeout=5)
        assert queue(4, timeout=5) == 8


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError):
        BatchQueue(lambda xs: xs, max_batch=0)
