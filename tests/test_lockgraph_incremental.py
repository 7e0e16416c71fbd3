"""The lock graph after a one-file edit (analyzers.lockgraph_incremental): the same graph as a run from
scratch, with only the files whose contexts read something the edit changed walked again."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from analyzers import depends, engine, lockgraph_incremental
from analyzers.discover import InputLimits
from analyzers.hierarchy import load_hierarchy
from analyzers.lockgraph import DEFAULT_DEPTH
from analyzers.lockgraph_render import as_dict
from checks.lockgraph import analyse
from tests.corpus_tree import edit_randomly, mps_copy
from tests.fork_bundle import base_and_heads

EDIT = b"\nstatic int mps_verify_edit(int x) {\n  return x + 1;\n}\n"


@pytest.fixture
def tree(tmp_path, monkeypatch) -> Path:
    """A copy of the 2.6.0 MPS tree (its two folders under aten/src/ATen) with a cache of its own."""
    return mps_copy(tmp_path, monkeypatch)


def graph(root: Path, cache: bool = True) -> tuple[dict, list]:
    """The lock graph and its findings as `checks.lockgraph` makes them."""
    graph_, report = analyse([root / "mps", root / "native" / "mps"], root, cache=cache)
    return as_dict(graph_), [(f.rule, f.path, f.line, f.message) for f in report.findings]


def acquisitions(root: Path, cache: bool = True) -> list:
    """Every acquisition the graph is built from (a finer test than the graph, which keeps one site an edge)."""
    files = engine._discover([root / "mps", root / "native" / "mps"], root, (), InputLimits(), None)
    return lockgraph_incremental.acquisitions(files, engine.file_keys(files), load_hierarchy(), DEFAULT_DEPTH,
                                              "test", cache)[0]


def edited(root: Path, rel: str, change) -> tuple:
    """(the acquisitions after the edit with the cache of the run before, the files that run walked, the
    acquisitions from scratch)."""
    path = root / rel
    path.write_bytes(change(path.read_bytes()))
    after = acquisitions(root)
    return after, lockgraph_incremental.LAST["walked"], acquisitions(root, cache=False)


def drop_first(needle: bytes):
    def change(text: bytes) -> bytes:
        lines = text.split(b"\n")
        hit = next(i for i, line in enumerate(lines) if needle in line)
        return b"\n".join(lines[:hit] + lines[hit + 1:])
    return change


@pytest.mark.corpus
@pytest.mark.parametrize("rel, change", [
    ("native/mps/OperationUtils.mm", lambda text: text + EDIT),                  # a new function
    ("mps/MPSStream.mm", lambda text: b"// one more line\n" + text),               # every line moves
    ("mps/MPSAllocator.mm", drop_first(b"std::lock_guard")),                       # a lock gone
    ("mps/MPSStream.h", drop_first(b"_serialQueue = nullptr")),                     # a member gone
    ("mps/MPSAllocator.mm", lambda text: text.replace(                              # a lock more
        b"bool MPSHeapAllocatorImpl::release_cached_buffers() {",
        b"bool MPSHeapAllocatorImpl::release_cached_buffers() { std::lock_guard<std::mutex> extra(m_extra);")),
], ids=["new-function", "lines-move", "lock-gone", "member-gone", "lock-added"])
def test_an_edit_gives_what_a_run_from_scratch_gives(tree, rel, change):
    before = acquisitions(tree)
    assert lockgraph_incremental.LAST["walked"] == lockgraph_incremental.LAST["files"]
    files = lockgraph_incremental.LAST["files"]
    after, walked, scratch = edited(tree, rel, change)
    assert after == scratch
    assert after != before or rel.endswith("OperationUtils.mm")
    assert 1 <= walked < files / 2, (walked, files)


@pytest.mark.corpus
def test_the_command_after_an_edit(tree):
    graph(tree)
    path = tree / "mps" / "MPSAllocator.mm"
    path.write_bytes(drop_first(b"std::lock_guard")(path.read_bytes()))
    assert graph(tree) == graph(tree, cache=False)
    assert lockgraph_incremental.LAST["walked"] == lockgraph_incremental.LAST["files"]   # the run from scratch


@pytest.mark.corpus
def test_without_the_keys_a_stale_graph_would_come_back(tree, monkeypatch):
    """The check above can fail: if lookups noted nothing, a lock added to release_cached_buffers() would
    re-walk only MPSAllocator.mm, and BinaryKernel.mm, whose stream-queue block reaches that function,
    would miss the new acquisition."""
    monkeypatch.setattr(depends, "note", lambda key: None)
    acquisitions(tree)
    head = b"bool MPSHeapAllocatorImpl::release_cached_buffers() {"
    after, walked, scratch = edited(tree, "mps/MPSAllocator.mm", lambda text: text.replace(
        head, head + b" std::lock_guard<std::mutex> extra(m_extra_mutex);"))
    assert walked == 1 and after != scratch


@pytest.mark.corpus
def test_lines_that_only_moved_are_moved_not_walked(tree):
    """A line put above MPSStream.mm moves every line of it: the files whose acquisitions pass through
    MPSStream.mm keep them, with the lines moved, and are not walked again."""
    acquisitions(tree)
    after, walked, scratch = edited(tree, "mps/MPSStream.mm", lambda text: b"// one more line\n" + text)
    assert after == scratch and walked == 1


@pytest.mark.corpus
def test_nothing_changed_and_a_file_back_as_it_was(tree):
    before = graph(tree)
    path = tree / "mps" / "MPSEvent.mm"
    text = path.read_bytes()
    path.write_bytes(b"// one more line\n" + text)
    graph(tree)
    path.write_bytes(text)
    assert graph(tree) == before


def test_frames_pass_keys_out_and_only_while_recording():
    deps: dict = {}
    with depends.recording():
        depends.open_frame()
        depends.note(("a", 1))
        depends.open_frame()
        depends.note(("b", 2))
        depends.close_into(deps, "memo")
        depends.open_frame()
        depends.note_all(deps["memo"])        # a memo hit brings the keys of its value
        assert depends.close_frame() == {("b", 2)}
        assert depends.close_frame() == {("a", 1), ("b", 2)}
    depends.open_frame()
    depends.note(("c", 3))
    assert depends.FRAMES == [] and depends.close_frame() == depends.EMPTY



def test_a_value_read_from_too_many_keys_counts_as_reading_every_key(monkeypatch):
    monkeypatch.setattr(depends, "MAX_KEYS", 3)
    deps: dict = {}
    with depends.recording():
        depends.open_frame()                  # a unit
        depends.open_frame()                  # a memo worked out from four keys
        for i in range(4):
            depends.note(("k", i))
        depends.close_into(deps, "wide")
        depends.open_frame()                  # a memo hit passes "every key" on
        depends.recall(deps, "wide")
        depends.note(("m", 0))
        assert depends.close_frame() == depends.EVERYTHING
        unit = depends.close_frame()
    assert deps["wide"] == unit == depends.EVERYTHING
    assert not depends.unaffected(unit, {("other", 1)}) and depends.unaffected(unit, set())
    assert depends.unaffected(frozenset({("k", 0)}), {("other", 1)})
    assert not depends.unaffected(frozenset({("k", 0)}), {("k", 0)})

def _fork_edits(tmp_path: Path, monkeypatch) -> tuple[Path, list[tuple[str, bytes]]]:
    """The fork PR's base tree, and each file the PR changes with its head version."""
    monkeypatch.setenv("MPS_VERIFY_CACHE_DIR", str(tmp_path / "cache"))
    return base_and_heads(tmp_path / "fork")


def _fork_acquisitions(repo: Path, cache: bool = True) -> list:
    files = engine._discover([repo / "aten"], repo, (), InputLimits(), None)
    return lockgraph_incremental.acquisitions(files, engine.file_keys(files), load_hierarchy(), DEFAULT_DEPTH,
                                              "test", cache)[0]


def _replay(tmp_path: Path, monkeypatch, every: int) -> list[int]:
    """Each (every n-th) file of the fork PR as a one-file edit of the base tree: the same acquisitions as
    a run from scratch; the files each edit walked again."""
    repo, heads = _fork_edits(tmp_path, monkeypatch)
    base = _fork_acquisitions(repo)
    walked = []
    for rel, head in heads[::every]:
        path = repo / rel
        text = path.read_bytes()
        path.write_bytes(head)
        after = _fork_acquisitions(repo)
        walked.append(lockgraph_incremental.LAST["walked"])
        assert after == _fork_acquisitions(repo, cache=False), rel
        path.write_bytes(text)
        assert _fork_acquisitions(repo) == base, rel
    return walked


@pytest.mark.corpus
def test_files_of_the_fork_pr_as_one_file_edits(tmp_path, monkeypatch):
    _replay(tmp_path, monkeypatch, every=6)


@pytest.mark.slow
def test_every_file_of_the_fork_pr_as_a_one_file_edit(tmp_path, monkeypatch):
    _replay(tmp_path, monkeypatch, every=1)


def _random_edits(tree: Path, edits: int, seed: int) -> None:
    """Edits of one to three files at a time (a line dropped, doubled or moved), one after another: after
    each, the same acquisitions as a run from scratch."""
    rng = random.Random(seed)
    paths = sorted(p for p in tree.rglob("*") if p.suffix in (".mm", ".h")
                   and any(w in p.read_text(errors="replace") for w in ("lock", "dispatch", "mutex")))
    acquisitions(tree)
    for n in range(edits):
        edit_randomly(rng, paths)
        assert acquisitions(tree) == acquisitions(tree, cache=False), n


@pytest.mark.corpus
def test_random_edits(tree):
    _random_edits(tree, edits=8, seed=1)


@pytest.mark.slow
def test_many_random_edits(tree):
    _random_edits(tree, edits=60, seed=2)


def test_line_map_keeps_the_lines_around_an_edit_and_the_stretches_within_it():
    from analyzers.parse import parse_text
    old = "int a() {\n  return 1;\n}\nint b() {\n  return 2;\n}\nint c() {\n  return 3;\n}\n"
    new = old.replace("  return 2;\n", "  int y = 2;\n  return y;\n").replace("int a", "\nint a")
    assert lockgraph_incremental.line_map(parse_text(old, "x.mm"), parse_text(new, "x.mm")) == {
        1: 2, 2: 3, 3: 4, 4: 5, 6: 8, 7: 9, 8: 10, 9: 11}
    again = old.replace("  return 1;\n", "  return 1;\n}\nint d() {\n  return 1;\n")    # a stretch repeated
    assert lockgraph_incremental.line_map(parse_text(old, "x.mm"), parse_text(again, "x.mm")) == {
        1: 1, 2: 2, 3: 3, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 9: 12}


def test_provides_are_remembered_by_key_and_only_the_last_few(monkeypatch):
    monkeypatch.setattr(lockgraph_incremental, "_PROVIDED", {})
    calls = []

    def compute(n):
        return lambda: calls.append(n) or {("k",): str(n)}
    assert lockgraph_incremental.remembered(("a",), compute(1)) == {("k",): "1"}
    assert lockgraph_incremental.remembered(("a",), compute(2)) == {("k",): "1"} and calls == [1]
    for n in range(lockgraph_incremental.PROVIDED_KEEP):
        lockgraph_incremental.remembered((n,), compute(n))
    assert lockgraph_incremental.remembered(("a",), compute(3)) == {("k",): "3"}
