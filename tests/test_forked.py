"""analyzers.forked: work shared with forked children, results in order, failures as one-line errors."""

from __future__ import annotations

import os
import threading
import time

import pytest

from analyzers import engine, forked

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_map_shared_keeps_the_order_and_uses_the_children():
    def work(n):
        time.sleep(0.002)     # long enough that the children start before the parent is done
        return n * n, os.getpid()

    pids = forked.map_shared(work, list(range(200)), 3)
    assert [square for square, _ in pids] == [n * n for n in range(200)]
    assert len({pid for _, pid in pids}) > 1          # not all done by this process


def test_meanwhile_runs_once_in_this_process():
    seen = []
    forked.map_shared(lambda n: n, list(range(20)), 2, meanwhile=lambda: seen.append(os.getpid()))
    assert seen == [os.getpid()]


def test_a_failing_child_is_one_line_error():
    def boom(n):
        if os.getpid() != parent:
            raise ValueError("bad input")
        return n

    parent = os.getpid()
    child = forked.start(lambda: boom(1))
    with pytest.raises(RuntimeError, match="forked worker failed: ValueError: bad input"):
        child.wait()


def test_a_child_that_dies_is_reported_with_its_signal():
    import signal

    child = forked.start(lambda: os.kill(os.getpid(), signal.SIGKILL))
    with pytest.raises(RuntimeError, match="ended without a result \\(signal SIGKILL\\)"):
        child.wait()


def test_when_this_process_fails_the_children_are_killed_and_reaped():
    parent = os.getpid()
    children = []
    real_start = forked.start

    def spy(fn):
        children.append(real_start(fn))
        return children[-1]

    def work(n):
        if os.getpid() == parent and n > 50:
            raise ValueError("parent failed")
        return b"x" * 100_000        # more than a pipe holds: the child would block writing it

    forked.start = spy
    try:
        with pytest.raises(ValueError, match="parent failed"):
            forked.map_shared(work, list(range(400)), 2)
    finally:
        forked.start = real_start
    assert len(children) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(children[0].pid, os.WNOHANG)     # already reaped


def test_no_fork_while_other_threads_run():
    assert forked.available()
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not forked.available()
    finally:
        stop.set()
        t.join()


def test_a_second_analysis_reuses_unchanged_files_and_matches_a_fresh_one(tmp_path):
    import shutil
    from pathlib import Path

    fixtures = Path(__file__).parent / "fixtures" / "structural"
    flags = sorted(fixtures.glob("ST.0*_flag.mm"))[:20]
    base, head = tmp_path / "base", tmp_path / "head"
    for tree in (base, head):
        tree.mkdir()
        for f in flags:
            shutil.copy(f, tree / f.name)
    changed = head / flags[0].name
    changed.write_text(changed.read_text() + "\n" + (fixtures / "ST.004.a_flag.mm").read_text())
    engine.analyze([base], base, cache=False)
    assert engine._LAST_FILES                                   # the base run's per-file results
    reused = engine.analyze([head], head, cache=False)
    engine._LAST_FILES.clear()
    fresh = engine.analyze([head], head, cache=False)
    assert reused.findings == fresh.findings
    assert any(f.path == flags[0].name and f.rule.startswith("ST.004") for f in fresh.findings)
