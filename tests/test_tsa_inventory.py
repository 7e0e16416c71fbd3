"""The TSA inventory on the analyzer's tokens: exact counts per spelling, coverage, regressions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzers import tsa
from analyzers.parse import parse_file

FIXTURES = Path(__file__).parent / "fixtures" / "tsa" / "inventory"

# The running counts written next to each annotation in spellings.h.
SPELLINGS = {
    "capability": 3, "scoped_capability": 2, "guarded_by": 5, "pt_guarded_by": 3, "guarded_var": 1,
    "pt_guarded_var": 1, "acquired_before": 1, "acquired_after": 1, "requires_capability": 5,
    "requires_shared_capability": 2, "acquire_capability": 4, "acquire_shared_capability": 2,
    "release_capability": 2, "release_shared_capability": 1, "release_generic_capability": 3,
    "try_acquire_capability": 2, "try_acquire_shared_capability": 2, "locks_excluded": 4,
    "assert_capability": 2, "assert_shared_capability": 2, "lock_returned": 2, "no_thread_safety_analysis": 1,
}


def _model(name: str, text: str | None = None):
    path = FIXTURES / name
    return parse_file(path, name, None if text is None else text.encode())


def _inv(*names: str, prefixes=tsa.DEFAULT_PREFIXES) -> tsa.Inventory:
    return tsa.inventory([_model(n) for n in names], prefixes)


def _file(inv: tsa.Inventory, path: str) -> tsa.FileInfo:
    return next(f for f in inv.files if f.path == path)


def _class(inv: tsa.Inventory, name: str) -> tsa.ClassInfo:
    return next(c for c in inv.classes if c.name == name)


def test_every_spelling_counted_exactly():
    inv = _inv("spellings.h")
    assert _file(inv, "spellings.h").counts == SPELLINGS
    assert set(SPELLINGS) == set(tsa.KINDS)          # the fixture covers every kind


def test_configured_prefix_adds_an_ambiguous_spelling():
    counts = _file(_inv("spellings.h", prefixes=(*tsa.DEFAULT_PREFIXES, "FORK_")), "spellings.h").counts
    assert counts == {**SPELLINGS, "release_capability": 3}


@pytest.mark.parametrize("spelling, kind", [
    ("GUARDED_BY", "guarded_by"), ("PT_GUARDED_BY", "pt_guarded_by"), ("ABSL_PT_GUARDED_BY", "pt_guarded_by"),
    ("EXCLUSIVE_LOCKS_REQUIRED", "requires_capability"), ("ABSL_LOCKS_EXCLUDED", "locks_excluded"),
    ("UNLOCK_FUNCTION", "release_generic_capability"), ("SHARED_TRYLOCK_FUNCTION", "try_acquire_shared_capability"),
    ("MPS_REQUIRES", "requires_capability"), ("C10_RELEASE", "release_capability"),
    ("TORCH_GUARDED_BY", "guarded_by"), ("MYFORK_NO_THREAD_SAFETY_ANALYSIS", "no_thread_safety_analysis"),
    ("FORK_RELEASE", None), ("STATIC_REQUIRES", None), ("GUARDED", None), ("guarded_by", None),
    ("RELEASE_MODE", None),
])
def test_macro_spellings(spelling, kind):
    assert tsa.macro_kind(spelling) == kind


def test_raw_spellings():
    assert tsa.raw_kind("__pt_guarded_by__") == "pt_guarded_by"
    assert tsa.raw_kind("exclusive_trylock_function") == "try_acquire_capability"
    assert tsa.raw_kind("aligned") is None


def test_annotations_attach_to_their_declarations():
    uses = {(u.line, u.owner, u.target, u.kind) for u in _inv("spellings.h").uses}
    assert (6, "", "Mutex", "capability") in uses                 # class CAPABILITY("mutex") Mutex
    assert (42, "", "RawRole", "capability") in uses              # class __attribute__((capability(..))) RawRole
    assert (8, "Mutex", "Lock", "acquire_capability") in uses
    assert (55, "Account", "RawRequires", "requires_capability") in uses
    assert (68, "Account", "raw_", "guarded_by") in uses
    assert (73, "Account", "legacy_var_", "guarded_var") in uses
    assert (75, "Account", "through_wrapper_", "guarded_by") in uses


def test_comments_strings_if0_definitions_do_not_count():
    inv = _inv("not_counted.h", "macros.h")
    assert inv.uses == []
    assert _file(inv, "not_counted.h").definitions == 2   # LOCAL_GUARDED_BY, CHECK_GUARDED_BY
    assert _file(inv, "macros.h").definitions == 40       # 42 #defines less the helper and FORK_RELEASE
    assert _file(_inv("macros.h", prefixes=(*tsa.DEFAULT_PREFIXES, "FORK_")), "macros.h").definitions == 41


def test_cxx11_attribute_syntax():
    inv = _inv("cxx11_attributes.h")
    assert [(u.kind, u.spelling, u.target) for u in inv.uses] == [
        ("guarded_by", "clang::guarded_by", "n_"), ("requires_capability", "clang::requires_capability", "bump")]


def test_coverage_per_class():
    inv = _inv("coverage.h")
    cache = _class(inv, "fork::Cache")
    assert [(c.name, c.source, c.guards) for c in cache.capabilities] == [("mutex_", "mutex", ["size_", "slots_"])]
    assert cache.guarded == {"size_": "mutex_", "slots_": "mutex_"}
    assert cache.unannotated == ["evictions_"] and cache.coverage == pytest.approx(2 / 3)
    stream = _class(inv, "fork::Stream")
    assert stream.capabilities[0].source == "capability-type" and stream.coverage == 1.0
    graph = _class(inv, "fork::GraphCache")
    assert graph.capabilities[0].name == "serialQueue_" and graph.capabilities[0].source == "guard-argument"
    assert graph.unannotated == ["keys_"]
    registry = _class(inv, "fork::Registry")
    assert registry.coverage == 0.0 and registry.unannotated == ["count_", "items_"]
    assert registry.capabilities[0].mentions == 0
    file_scope = _class(inv, "")
    assert [c.name for c in file_scope.capabilities] == ["g_init_mutex", "id_mutex"]
    f = _file(inv, "coverage.h")
    assert (f.guarded, f.need) == (5, 9)
    assert inv.totals()["coverage"] == round(5 / 9, 4)


def _edited(old: str, new: str) -> tsa.Inventory:
    text = (FIXTURES / "coverage.h").read_text()
    assert old in text
    return tsa.inventory([_model("coverage.h", text.replace(old, new, 1))])


def test_regressions_name_what_disappeared():
    base = _inv("coverage.h")
    head = _edited("int size_ GUARDED_BY(mutex_) = 0;", "int size_ = 0;\n  std::mutex stats_mutex_;")
    assert tsa.compare(base, head) == [
        "coverage.h: guarded_by was 4 now 3 (gone: fork::Cache::size_)",
        "coverage.h: fork::Cache::size_ lost its annotation (was mutex_)",
        "coverage.h:26: new unannotated std::mutex fork::Cache::stats_mutex_ (no annotation names it)",
    ]


def test_lost_function_annotation_is_named():
    head = _edited("void put(int key) REQUIRES(mutex_);", "void put(int key);")
    assert tsa.compare(_inv("coverage.h"), head) == [
        "coverage.h: requires_capability was 1 now 0 (gone: fork::Cache::put)"]


def test_moved_code_and_new_annotations_are_not_regressions():
    head = _edited("namespace fork {\n", "namespace fork {\n\n\n// moved down\n"
                   "class Extra {\n  std::mutex mu_;\n  int n_ GUARDED_BY(mu_) = 0;\n};\n")
    assert tsa.compare(_inv("coverage.h"), head) == []


def test_baseline_round_trip():
    inv = _inv("coverage.h", "spellings.h")
    again = tsa.Inventory.from_json(json.loads(json.dumps(inv.to_json())))
    assert tsa.compare(again, inv) == [] and tsa.compare(inv, again) == []
    assert again.totals() == inv.totals()


def test_minimums():
    inv = _inv("coverage.h")
    ok = tsa.validate_minimums({"coverage.h": {"guarded_by": 4, "pt_guarded_by": 1, "coverage": 0.5}})
    assert tsa.check_minimums(inv, ok) == []
    bad = tsa.validate_minimums({"coverage.h": {"guarded_by": 5, "coverage": 0.75}, "gone.h": {"annotations": 1}})
    assert tsa.check_minimums(inv, bad) == [
        "coverage.h: guarded_by 4 below minimum 5",
        "coverage.h: coverage 5/9 = 0.56 below minimum 0.75",
        "gone.h: file not found (minimums: annotations 1)",
    ]


@pytest.mark.parametrize("doc, message", [
    (["x"], "expected a mapping of file paths"),
    ({"a.h": 3}, "expected a mapping of kinds"),
    ({"a.h": {"guarded": 1}}, "unknown kind 'guarded'"),
    ({"a.h": {"coverage": 2}}, "between 0 and 1"),
    ({"a.h": {"guarded_by": -1}}, ">= 0"),
])
def test_minimums_validation(doc, message):
    with pytest.raises(ValueError, match=message):
        tsa.validate_minimums(doc)


@pytest.mark.corpus
def test_pytorch_2_6_0_tree_has_no_annotations():
    import os

    from analyzers.engine import load_models
    from checks.cli import UsageError
    from checks.sources import CORPUS_DIR, corpus_mps_dirs

    try:
        dirs = corpus_mps_dirs()
    except UsageError:
        if os.environ.get("MPS_VERIFY_REQUIRE_CORPUS"):
            raise
        pytest.skip("PyTorch 2.6.0 corpus missing (make corpus)")
    inv = tsa.inventory(load_models(dirs, CORPUS_DIR))
    totals = inv.totals()
    assert totals["files"] >= 95 and totals["annotations"] == 0 and totals["definitions"] == 0
    owners = {c.name: c for c in inv.classes}
    assert set(owners) == {"at::mps::HeapAllocator::MPSHeapAllocatorImpl", "at::mps::MPSEvent",
                           "at::mps::MPSEventPool"}
    allocator = owners["at::mps::HeapAllocator::MPSHeapAllocatorImpl"]
    assert [(c.name, c.type) for c in allocator.capabilities] == [("m_mutex", "std::recursive_mutex")]
    assert allocator.coverage == 0.0 and "m_allocated_buffers" in allocator.unannotated


def test_class_heads_with_export_macros_and_bases():
    text = ("namespace at::mps {\nclass TORCH_API MPS_CAPABILITY(\"mutex\") StreamLock final : public Base {\n"
            " public:\n  void lock() MPS_ACQUIRE();\n};\nstruct Holder {\n  StreamLock lock_;\n"
            "  int n_ MPS_GUARDED_BY(lock_) = 0;\n  void f(struct Other* o) MPS_REQUIRES(lock_);\n};\n}\n")
    inv = tsa.inventory([parse_file(FIXTURES / "x.h", "x.h", text.encode())])
    assert [(u.owner, u.target, u.kind) for u in inv.uses] == [
        ("", "StreamLock", "capability"), ("at::mps::StreamLock", "lock", "acquire_capability"),
        ("at::mps::Holder", "n_", "guarded_by"), ("at::mps::Holder", "f", "requires_capability")]
    holder = next(c for c in inv.classes if c.name == "at::mps::Holder")
    assert [(c.name, c.source, c.mentions) for c in holder.capabilities] == [("lock_", "capability-type", 2)]
    assert holder.coverage == 1.0


@pytest.mark.clang
def test_fixtures_are_valid_cpp_for_clang():
    import subprocess

    from checks import tools
    from checks.cli import ToolMissing

    try:
        clang = tools.clangxx()
    except ToolMissing:
        pytest.skip("clang++ is not installed")
    # every attribute in spellings.h is well-formed where it stands (no -Wthread-safety-attributes warning)
    for name, extra in (("spellings.h", ["-Werror=thread-safety-attributes"]), ("not_counted.h", []),
                        ("coverage.h", [])):
        proc = subprocess.run([clang, "-x", "c++", "-std=c++17", "-fsyntax-only", "-Wthread-safety", *extra,
                               "-Wno-pragma-once-outside-header", str(FIXTURES / name)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
