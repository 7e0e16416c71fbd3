"""checks.structural after an edit (analyzers.structural_incremental): the same report as a run from
scratch, with only the files whose project findings read something the edit changed worked out again."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from analyzers import depends, engine, structural_incremental
from tests.corpus_tree import edit_randomly, mps_copy
from tests.fork_bundle import base_and_heads

EDIT = b"\nstatic int mps_verify_edit(int x) {\n  return x + 1;\n}\n"

# getFoo() creates its instance with no lock of its own; useFoo(), its only caller, holds s_mutex
LAZY = b"""#include <mutex>
struct Foo { int v; };
static Foo* s_foo = nullptr;

Foo* getFoo() {
  if (s_foo == nullptr) {
    s_foo = new Foo();
  }
  return s_foo;
}
"""
CALLER = b"""#include <mutex>
static std::mutex s_mutex;

void useFoo() {
  std::lock_guard<std::mutex> guard(s_mutex);
  getFoo();
}
"""


@pytest.fixture
def tree(tmp_path, monkeypatch) -> Path:
    """A copy of the 2.6.0 MPS tree (its two folders under aten/src/ATen) with a cache of its own."""
    return mps_copy(tmp_path, monkeypatch)


def report(root: Path, cache: bool = True, paths: list[Path] | None = None) -> tuple:
    """What checks.structural reports: findings with everything they say, diagnostics, the naming note."""
    engine._LAST_FILES.clear()
    got = engine.analyze(paths or [root / "mps", root / "native" / "mps"], root, cache=cache)
    return ([(f.rule, f.path, f.line, f.col, f.message, f.function, f.anchor, f.related, f.details)
             for f in got.findings], [(d.path, d.line, d.message) for d in got.diagnostics], got.extra)


def _first(path: Path, words: tuple[bytes, ...]) -> int:
    return next(n for n, line in enumerate(path.read_bytes().split(b"\n")) if any(w in line for w in words))


def _drop_line(path: Path, n: int) -> None:
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:n] + lines[n + 1:]))


EDITS = {
    "a function appended": lambda root: (root / "native/mps/OperationUtils.mm").write_bytes(
        (root / "native/mps/OperationUtils.mm").read_bytes() + EDIT),
    "a line put first": lambda root: (root / "mps/MPSStream.mm").write_bytes(
        b"// one more line\n" + (root / "mps/MPSStream.mm").read_bytes()),
    "a lock taken away": lambda root: _drop_line(root / "mps/MPSAllocator.mm", _first(
        root / "mps/MPSAllocator.mm", (b"lock_guard", b"unique_lock"))),
    "a member taken away": lambda root: _drop_line(root / "mps/MPSStream.h", _first(
        root / "mps/MPSStream.h", (b"_serialQueue",))),
    "a dispatch taken away": lambda root: _drop_line(root / "mps/MPSStream.mm", _first(
        root / "mps/MPSStream.mm", (b"dispatch_sync",))),
}


@pytest.mark.corpus
@pytest.mark.parametrize("what", sorted(EDITS))
def test_an_edit_gives_what_a_run_from_scratch_gives(tree, what):
    report(tree)
    EDITS[what](tree)
    after, redone = report(tree), structural_incremental.LAST["redone"]
    assert after == report(tree, cache=False)
    if what == "a function appended":       # nothing else reads what it changed
        assert redone == 1


def test_a_finding_in_a_file_the_edit_did_not_touch(tmp_path, monkeypatch):
    """Removing the lock from getFoo()'s only caller (b.mm) reports getFoo() (a.mm): a.mm read the caller
    context that changed, so it is worked out again."""
    monkeypatch.setenv("MPS_VERIFY_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "a.mm").write_bytes(LAZY)
    (tmp_path / "b.mm").write_bytes(CALLER)
    assert not [f for f in report(tmp_path, paths=[tmp_path])[0] if f[0] == "ST.006.a"]
    (tmp_path / "b.mm").write_bytes(CALLER.replace(b"  std::lock_guard<std::mutex> guard(s_mutex);\n", b""))
    after = report(tmp_path, paths=[tmp_path])
    assert [f[1] for f in after[0] if f[0] == "ST.006.a"] == ["a.mm"]
    assert after == report(tmp_path, cache=False, paths=[tmp_path])


def test_without_the_keys_a_stale_report_would_come_back(tmp_path, monkeypatch):
    """The check above can fail: if lookups noted nothing, a.mm would keep its report from before."""
    monkeypatch.setenv("MPS_VERIFY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(depends, "note", lambda key: None)
    (tmp_path / "a.mm").write_bytes(LAZY)
    (tmp_path / "b.mm").write_bytes(CALLER)
    report(tmp_path, paths=[tmp_path])
    (tmp_path / "b.mm").write_bytes(CALLER.replace(b"  std::lock_guard<std::mutex> guard(s_mutex);\n", b""))
    assert not [f for f in report(tmp_path, paths=[tmp_path])[0] if f[0] == "ST.006.a"]


# recordLocked() (a.mm) touches the stream; record() (b.mm) calls it outside the queue: ST.001.c in b.mm
# with a related location in a.mm
LOCKED_DEF = b"""namespace at::mps {

void MPSEvent::recordLocked(bool syncEvent) {
  m_stream->endKernelCoalescing();
}

} // namespace at::mps
"""
LOCKED_USE = b"""namespace at::mps {

void MPSEvent::record(bool needsLock, bool syncEvent) {
  if (!needsLock) {
    recordLocked(syncEvent);
  }
}

} // namespace at::mps
"""


def test_a_file_whose_findings_quote_moved_lines_keeps_them_moved(tmp_path, monkeypatch):
    """Lines put before recordLocked() move it without changing it: b.mm is not worked out again, and its
    finding's related location in a.mm moves with the definition (kept as it was, it would be wrong)."""
    monkeypatch.setenv("MPS_VERIFY_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "a.mm").write_bytes(LOCKED_DEF)
    (tmp_path / "b.mm").write_bytes(LOCKED_USE)
    before = report(tmp_path, paths=[tmp_path])[0]
    assert [(f[0], f[1], f[7][0].path, f[7][0].line) for f in before] == [("ST.001.c", "b.mm", "a.mm", 4)]
    (tmp_path / "a.mm").write_bytes(b"// one more line\n// and another\n" + LOCKED_DEF)
    after = report(tmp_path, paths=[tmp_path])
    assert structural_incremental.LAST["redone"] == 1
    assert [f[7][0].line for f in after[0]] == [6]
    assert after == report(tmp_path, cache=False, paths=[tmp_path])


@pytest.mark.corpus
def test_a_class_that_comes_redoes_only_the_files_reading_its_methods(tree):
    """A new class files `C::f` definitions under their class (symbols.types_from): the keys of those
    definitions change, not every file's."""
    report(tree)
    path = tree / "mps/MPSStream.h"
    path.write_bytes(path.read_bytes() + b"\nnamespace at::mps { class MPSVerifyNewClass { int x; }; }\n")
    after, redone = report(tree), structural_incremental.LAST["redone"]
    assert after == report(tree, cache=False)
    assert redone < structural_incremental.LAST["files"]


@pytest.mark.corpus
def test_what_the_whole_tree_shares_redoes_every_file(tree):
    report(tree)
    path = tree / "native/mps/OperationUtils.mm"
    path.write_bytes(path.read_bytes() + b"\nnamespace mps_verify_new_namespace {}\n")
    after, redone = report(tree), structural_incremental.LAST["redone"]
    assert after == report(tree, cache=False)
    assert redone == structural_incremental.LAST["files"]


@pytest.mark.corpus
def test_the_command_and_a_file_put_back(tree):
    cold = report(tree)
    path = tree / "mps/MPSStream.mm"
    text = path.read_bytes()
    path.write_bytes(text + EDIT)
    assert report(tree) == report(tree, cache=False)
    path.write_bytes(text)
    assert report(tree) == cold


def _random_edits(tree: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    report(tree)
    files = sorted(p for p in tree.rglob("*") if p.suffix in (".mm", ".h", ".cpp"))
    for _ in range(n):
        edit_randomly(rng, files)
        assert report(tree) == report(tree, cache=False)


@pytest.mark.corpus
def test_random_edits(tree):
    _random_edits(tree, 6, 7)


@pytest.mark.slow
def test_many_random_edits(tree):
    _random_edits(tree, 40, 11)


def _fork_edits(tmp_path: Path, monkeypatch, every: int) -> None:
    """The fork PR's files, each put alone into the base tree: the report equals one from scratch."""
    monkeypatch.setenv("MPS_VERIFY_CACHE_DIR", str(tmp_path / "cache"))
    repo, heads = base_and_heads(tmp_path / "pr")
    root = repo / "aten" / "src" / "ATen"
    base = report(root)
    for rel, head in heads[::every]:
        path = repo / rel
        text = path.read_bytes()
        path.write_bytes(head)
        assert report(root) == report(root, cache=False), rel
        path.write_bytes(text)
        assert report(root) == base, rel


@pytest.mark.corpus
def test_files_of_the_fork_pr_as_one_file_edits(tmp_path, monkeypatch):
    _fork_edits(tmp_path, monkeypatch, 6)


@pytest.mark.slow
def test_every_file_of_the_fork_pr_as_a_one_file_edit(tmp_path, monkeypatch):
    _fork_edits(tmp_path, monkeypatch, 1)
