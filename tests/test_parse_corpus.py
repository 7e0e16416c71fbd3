"""The parser on real code: every file of the PyTorch 2.6.0 MPS tree and the wheel's MPS headers."""

import os
from pathlib import Path

import pytest

from analyzers.parse import parse_file
from checks.cli import UsageError
from checks.sources import corpus_mps_dirs, torch_mps_headers

SUFFIXES = {".h", ".hpp", ".cpp", ".cc", ".mm", ".m"}


def _corpus() -> list[Path]:
    try:
        dirs = corpus_mps_dirs()
    except UsageError:
        if os.environ.get("MPS_VERIFY_REQUIRE_CORPUS"):
            raise
        pytest.skip("PyTorch 2.6.0 corpus missing (make corpus)")
    return sorted(f for d in dirs for f in d.rglob("*") if f.suffix in SUFFIXES)


@pytest.fixture(scope="module")
def corpus() -> dict[str, object]:
    files = _corpus()
    return {f.name: parse_file(f, f.name) for f in files}


@pytest.mark.corpus
def test_every_corpus_file_parses_without_diagnostics(corpus):
    assert len(corpus) >= 95
    problems = [(name, d.message) for name, m in corpus.items() for d in m.diagnostics]
    assert problems == []


@pytest.mark.corpus
def test_stream_dispatches_on_serial_queue(corpus):
    model = corpus["MPSStream.mm"]
    dispatch = list(model.scopes("dispatch"))
    assert len(dispatch) == 4   # fill, copy, addCompletedHandler, executeMPSGraph
    assert {s.queue for s in dispatch} == {"_serialQueue"}
    assert all(s.function().name.startswith("at::mps::MPSStream::") for s in dispatch)
    assert not any(s.escaping for s in dispatch)


@pytest.mark.corpus
def test_allocator_manual_unlock_lock_and_escaping_handler(corpus):
    model = corpus["MPSAllocator.mm"]
    manual = [r for s in model.scopes() for r in s.locks if r.kind == "manual"]
    assert manual and all(r.lock == "m_mutex" for r in manual)
    handlers = [s for s in model.scopes("block") if s.handler == "addCompletedHandler:"]
    assert handlers and all(s.escaping for s in handlers)
    assert all(any(r.kind == "lock_guard" and r.lock == "m_mutex" for r in s.locks) for s in handlers)


@pytest.mark.corpus
def test_event_lock_guards(corpus):
    model = corpus["MPSEvent.mm"]
    guarded = {(r.lock, r.kind) for s in model.scopes() for r in s.locks}
    assert ("m_mutex", "lock_guard") in guarded
    assert ("m_cpu_sync_mutex", "lock_guard") in guarded
    assert ("m_cpu_sync_mutex", "unique_lock") in guarded


def test_wheel_headers_parse():
    try:
        dirs = torch_mps_headers()
    except UsageError:
        pytest.skip("torch wheel without MPS headers")
    files = sorted(f for d in dirs for f in d.rglob("*") if f.suffix in SUFFIXES)
    assert files
    for f in files:
        model = parse_file(f, f.name)
        assert model.tokens, f
        assert not [d for d in model.diagnostics if d.kind == "parse"], (f, model.diagnostics)
