"""Issue #19's caches and process count: compressed entries, per-file facts (an edit re-reads one file),
whole-run caches of the lock graph and the TSA inventory, the idle-core rule, the scaling corpus."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from analyzers import cache as cache_mod
from analyzers import engine
from checks import bench_scaling, corpus
from checks import lockgraph as lockgraph_cli
from checks.cli import UsageError

ROOT = Path(__file__).resolve().parent.parent
STRUCT = ROOT / "tests" / "fixtures" / "structural"
LOCKS = ROOT / "tests" / "fixtures" / "lockgraph"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder and no in-process results of earlier runs."""
    monkeypatch.setenv("MPS_VERIFY_CACHE_DIR", str(tmp_path / "cache"))
    engine._LAST_FILES.clear()


def _tree(tmp_path: Path, names: list[str], source: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in names:
        shutil.copy(source / name, tree / name)
    return tree


def _parsed_only(monkeypatch, allowed: set[str]) -> list[str]:
    """Make parsing fail for every file but `allowed`; returns the list of files parsed."""
    parsed: list[str] = []
    real = engine.parse_file

    def parse(path, rel):
        if rel not in allowed:
            raise AssertionError(f"{rel} parsed although unchanged")
        parsed.append(rel)
        return real(path, rel)
    monkeypatch.setattr(engine, "parse_file", parse)
    return parsed


# ---- the cache itself ----------------------------------------------------------------------------

def test_entries_are_compressed_and_a_truncated_one_is_a_miss(tmp_path):
    store = cache_mod.ParseCache(tmp_path)
    store.put("ab" * 32, {"x": "y" * 10_000})
    entry = next((tmp_path / "structural").rglob("*.pickle"))
    assert entry.read_bytes().startswith(cache_mod.MAGIC) and entry.stat().st_size < 1_000
    assert store.get("ab" * 32) == {"x": "y" * 10_000}
    entry.write_bytes(entry.read_bytes()[:20])
    assert store.get("ab" * 32) is None



def test_an_entry_put_uncompressed_reads_back_and_a_truncated_one_is_a_miss(tmp_path):
    store = cache_mod.ParseCache(tmp_path)
    store.put("cd" * 32, {"x": "y" * 10_000}, compress=False)
    entry = next((tmp_path / "structural").rglob("*.pickle"))
    assert entry.read_bytes().startswith(cache_mod.RAW) and entry.stat().st_size > 10_000
    assert store.get("cd" * 32) == {"x": "y" * 10_000}
    entry.write_bytes(entry.read_bytes()[:20])
    assert store.get("cd" * 32) is None


def test_cache_of_the_mps_tree_is_at_most_1_5x_its_source(tmp_path):
    from checks.sources import CORPUS_DIR
    from tests.corpus_tree import mps_dirs
    dirs = mps_dirs()
    engine.analyze(dirs, CORPUS_DIR)
    source = sum(p.stat().st_size for d in dirs for p in d.rglob("*") if p.suffix in (".h", ".mm", ".cpp"))
    cached = sum(p.stat().st_size for p in (tmp_path / "cache" / "structural").rglob("*.pickle"))
    assert cached <= 1.5 * source


# ---- per-file facts ------------------------------------------------------------------------------

def test_tsa_edit_reloads_only_the_edited_file(tmp_path, monkeypatch):
    from checks import tsa as tsa_cli
    names = ["mps_classes.h", "inversion_a.mm", "inversion_b.mm"]
    tree = _tree(tmp_path, names, LOCKS)
    first, _ = tsa_cli._facts([tree], tree, [], 1, engine.InputLimits(), ("MPS_",))
    parsed = _parsed_only(monkeypatch, {"inversion_a.mm"})
    (tree / "inversion_a.mm").write_text((tree / "inversion_a.mm").read_text() + "\nstd::mutex extra_mutex;\n")
    again, _ = tsa_cli._facts([tree], tree, [], 1, engine.InputLimits(), ("MPS_",))
    assert parsed == ["inversion_a.mm"]
    assert [f.path for f in again] == [f.path for f in first]
    edited = next(f for f in again if f.path == "inversion_a.mm")
    assert "extra_mutex" in [m.name for m in edited.members]


def test_tsa_whole_run_hit_needs_no_file(tmp_path, monkeypatch):
    from analyzers import tsa
    from checks import tsa as tsa_cli
    tree = _tree(tmp_path, ["mps_classes.h", "inversion_a.mm"], LOCKS)
    first = tsa.inventory_of(tsa_cli._facts([tree], tree, [], 1, engine.InputLimits(), ())[0])
    _parsed_only(monkeypatch, set())
    monkeypatch.setattr(engine, "per_file", None)      # a whole-run hit reads no per-file entry either
    again = tsa.inventory_of(tsa_cli._facts([tree], tree, [], 1, engine.InputLimits(), ())[0])
    assert again.to_json() == first.to_json()


def test_structural_file_rules_do_not_rerun_on_unchanged_files(tmp_path, monkeypatch):
    tree = _tree(tmp_path, ["ST.004.a_flag.mm", "ST.008.a_flag.mm"], STRUCT)
    first = engine.analyze([tree], tree)
    engine._LAST_FILES.clear()
    ran: list[str] = []
    real = engine._file_findings
    monkeypatch.setattr(engine, "_file_findings", lambda model, rules, ctx: ran.append(model.path) or real(model, rules, ctx))
    edited = tree / "ST.004.a_flag.mm"
    edited.write_text(edited.read_text() + "\n")
    again = engine.analyze([tree], tree)
    assert ran == ["ST.004.a_flag.mm"]
    assert [(f.rule, f.path, f.line) for f in again.findings] == [(f.rule, f.path, f.line) for f in first.findings]


def test_a_failing_pass_is_not_cached(tmp_path, monkeypatch):
    tree = _tree(tmp_path, ["mps_classes.h"], LOCKS)

    def boom(model):
        raise RuntimeError("pass failed")
    values, diagnostics, files = engine.collect_facts("t", [], [tree], tree, boom)
    assert values == [] and files == 1 and engine.incomplete(diagnostics)
    values, diagnostics, files = engine.collect_facts("t", [], [tree], tree, lambda model: model.path)
    assert values == ["mps_classes.h"] and not engine.incomplete(diagnostics)


# ---- whole-run caches ----------------------------------------------------------------------------

def test_lockgraph_whole_run_cache_and_no_cache(tmp_path, monkeypatch):
    tree = _tree(tmp_path, ["mps_classes.h", "inversion_a.mm", "inversion_b.mm"], LOCKS)
    graph, report = lockgraph_cli.analyse([tree], tree)
    assert graph.cycles
    monkeypatch.setattr(lockgraph_cli, "graph_from", None)      # a hit builds nothing
    _parsed_only(monkeypatch, set())
    again, report2 = lockgraph_cli.analyse([tree], tree)
    assert [f.fingerprint for f in report2.findings] == [f.fingerprint for f in report.findings]
    with pytest.raises(Exception):
        lockgraph_cli.analyse([tree], tree, cache=False)


def test_lockgraph_cache_key_has_the_hierarchy_and_depth(tmp_path):
    tree = _tree(tmp_path, ["mps_classes.h", "inversion_a.mm", "inversion_b.mm"], LOCKS)
    deep, _ = lockgraph_cli.analyse([tree], tree)
    shallow, _ = lockgraph_cli.analyse([tree], tree, depth=0)
    assert deep.graph.number_of_edges() != shallow.graph.number_of_edges() or deep.cycles != shallow.cycles


# ---- process count ---------------------------------------------------------------------------------

def test_busy_machine_gets_one_process(monkeypatch):
    from analyzers import cores
    monkeypatch.setattr(cores, "allowed", lambda: {0, 1})
    monkeypatch.setattr(cores, "_START", (1000, 2000))
    monkeypatch.setattr(cores, "_OWN", 10.0)
    monkeypatch.setattr(cores, "_own", lambda: 10.0 + 0.3)     # the window is 0.5 s (100 jiffies, 2 CPUs)
    monkeypatch.setattr(cores, "_sample", lambda cpus: (1000 + 1, 2000 + 100))    # both cores busy
    assert cores.idle_cores() == 1 and engine._jobs(None, 1000) == 1
    monkeypatch.setattr(cores, "_own", lambda: 10.0 + 1.0)     # ... by this process and a forked worker
    assert cores.idle_cores() == 2
    monkeypatch.setattr(cores, "_own", lambda: 10.0 + 0.3)
    monkeypatch.setattr(cores, "_sample", lambda cpus: (1000 + 50, 2000 + 100))   # only this process
    assert cores.idle_cores() == 2 and engine._jobs(None, 1000) == 2
    assert engine._jobs(3, 1000) == 3                   # asked for: as asked
    monkeypatch.setattr(cores, "_sample", lambda cpus: None)                      # no /proc/stat: the load
    monkeypatch.setattr(cores.os, "getloadavg", lambda: (1.9, 0, 0))
    assert cores.idle_cores() == 1
    monkeypatch.setattr(cores.os, "getloadavg", lambda: (0.2, 0, 0))
    assert cores.idle_cores() == 2


def test_a_short_window_is_waited_for_not_replaced_by_the_load_average(monkeypatch):
    from analyzers import cores
    monkeypatch.setattr(cores, "allowed", lambda: {0, 1})
    monkeypatch.setattr(cores, "_START", (1000, 2000))
    samples = iter([(1000 + 1, 2000 + 2), (1000 + 3, 2000 + 6), (1000 + 50, 2000 + 100)])   # short, short, idle
    monkeypatch.setattr(cores, "_sample", lambda cpus: next(samples))
    monkeypatch.setattr(cores.os, "getloadavg", lambda: (1.9, 0, 0))    # our own earlier runs, a minute's worth
    slept = []
    monkeypatch.setattr(cores.time, "sleep", slept.append)
    assert cores.idle_cores() == 2 and slept == [cores.WAIT, cores.WAIT]


def test_the_real_sample_sees_this_busy_process():
    from analyzers import cores
    start = cores._sample(cores.allowed())
    if start is None:
        pytest.skip("no /proc/stat here")
    x = 0
    while (now := cores._sample(cores.allowed()))[1] - start[1] < 2 * cores.MIN_WINDOW:
        x += 1
    assert now[0] - start[0] < now[1] - start[1]      # some of the window was busy: this loop


# ---- the scaling corpus and benchmark --------------------------------------------------------------

def test_scaling_subsets_are_nested_and_start_with_the_mps_tree(tmp_path):
    files = {"pkg/aten/src/ATen/mps/A.mm": 400_000, "pkg/aten/src/ATen/native/mps/B.mm": 300_000,
             "pkg/aten/src/ATen/core/C.cpp": 2_500_000, "pkg/c10/D.h": 3_000_000, "pkg/torch/E.cpp": 9_000_000,
             "pkg/README.md": 10, "pkg/torch/F.py": 10}
    tarball = tmp_path / "t.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        for name, size in files.items():
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(b"x" * size))
    base = tmp_path / "corpus" / "pytorch-2.6.0"
    counts = corpus.extract_scaling(tarball, base, (1, 5, 10))
    sets = {mb: {p.relative_to(corpus.scaling_dir(mb, base)).as_posix()
                 for p in corpus.scaling_dir(mb, base).rglob("*") if p.is_file() and p.name != "SOURCE"}
            for mb in (1, 5, 10)}
    assert sets[1] == {"aten/src/ATen/mps/A.mm", "aten/src/ATen/native/mps/B.mm", "aten/src/ATen/core/C.cpp"}
    assert sets[1] <= sets[5] <= sets[10] and "torch/F.py" not in sets[10]
    assert counts == {1: 3, 5: 4, 10: 5}


def test_scaling_bench_refuses_missing_inputs_and_bad_sizes(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_scaling, "scaling_dir", lambda mb: tmp_path / f"none-{mb}")
    with pytest.raises(UsageError, match="checks.corpus --scaling"):
        bench_scaling.inputs((5,))
    with pytest.raises(UsageError):
        bench_scaling.main(["--sizes", "7"])
    with pytest.raises(UsageError):
        bench_scaling.main(["--sizes", "x"])
    with pytest.raises(UsageError):
        bench_scaling.main(["--sizes", "", "--repeat", "0"])


def test_scaling_medians_keep_the_middle_pass_and_the_range():
    passes = [{"tsa": {"cold": {"wall": w, "cpu": w, "rss_mib": 1.0}}, "structural": {"cache_bytes": b}}
              for w, b in ((3.0, 10), (1.0, 30), (2.0, 20))]
    out = bench_scaling._medians(passes)
    assert out["tsa"]["cold"]["wall"] == 2.0 and out["tsa"]["cold"]["wall_range"] == [1.0, 3.0]
    assert out["structural"]["cache_bytes"] == 20


def test_small_inputs_are_parsed_in_one_process_by_default(tmp_path, monkeypatch):
    tree = _tree(tmp_path, [p.name for p in sorted(STRUCT.glob("ST.0*_flag.mm"))][:14], STRUCT)
    seen: list[int] = []
    real = engine.forked.map_shared
    monkeypatch.setattr(engine.forked, "map_shared",
                        lambda fn, items, workers, meanwhile=None: seen.append(workers) or real(fn, items, 1, meanwhile))
    monkeypatch.setattr(engine.cores, "idle_cores", lambda: 2)
    engine.analyze([tree], tree, cache=False)
    assert seen and max(seen) == 1                      # under PARALLEL_MIN_BYTES: no worker
    seen.clear()
    engine._LAST_FILES.clear()
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
    engine.analyze([tree], tree, cache=False)
    assert max(seen) == 2


def test_scaling_table_shows_both_designs_and_their_ratio():
    run = {"wall": 2.0, "cpu": 1.8, "rss_mib": 100.0}
    design = {"structural": {"cold": run, "cold_jobs1": run, "warm": run, "edit": run, "cache_bytes": 1_000_000},
              "lockgraph": {"cold": run, "warm": run, "edit": run}, "tsa": {"cold": run, "warm": run, "edit": run}}
    faster = {**design, "structural": {**design["structural"], "edit": {**run, "wall": 0.5}}}
    shape = {"1": {"mb": 1.0, "wall": 1.0, "cpu": 1.0, "mb_per_s": 1.0, "rss_mib_per_mb": 40.0}}
    doc = {"previous": "abc", "machine": {"cpus": 2, "loadavg_start": [1.0], "loadavg_end": [1.1]},
           "inputs": {"mps-tree": {"bytes": 1_000_000, "previous": design, "current": faster}},
           "shapes": {"current": {"funcs": {**shape, "4": shape["1"]}}, "previous": {"funcs": shape}}}
    text = bench_scaling.table(doc)
    assert "structural edit wall s" in text and "0.25x" in text and "previous 1.00" in text
    assert "above a warm run's peak" in text and "[" not in text.split("single generated")[1]
    doc["repeat"] = 3
    doc["shapes"]["current"]["funcs"]["1"] = {**shape["1"], "mb_per_s_range": [0.9, 1.2]}
    assert "funcs      1 MB   1.00 [0.90-1.20] (previous 1.00)" in bench_scaling.table(doc)


def test_a_run_without_the_naming_note_does_not_stand_for_one_with_it(tmp_path):
    tree = _tree(tmp_path, ["ST.004.a_flag.mm"], STRUCT)
    assert engine.analyze([tree], tree, naming=False).extra["types"] == {}
    engine._LAST_FILES.clear()
    assert engine.analyze([tree], tree).extra["types"] != {}


def test_parsed_yaml_is_kept_by_its_text_only_when_asked(tmp_path, monkeypatch):
    """The catalogue's and hierarchy's YAML, parsed once and kept; --no-cache (cache=False) writes nothing,
    and a document that does not parse is an error every time."""
    from analyzers import cache as cache_module
    from mpsverify_base.errors import UsageError
    monkeypatch.setenv("MPS_VERIFY_CACHE_DIR", str(tmp_path))
    assert cache_module.parsed_yaml("a: [1, 2]\n", "x.yaml") == {"a": [1, 2]}
    assert not (tmp_path / "structural").exists()
    assert cache_module.parsed_yaml("a: [1, 2]\n", "x.yaml", cache=True) == {"a": [1, 2]}
    assert cache_module.parsed_yaml("", "empty.yaml", cache=True) is None
    assert len(list((tmp_path / "structural").rglob("*.pickle"))) == 2
    monkeypatch.setattr(cache_module, "parse_yaml", lambda text, source: pytest.fail("parsed again"))
    assert cache_module.parsed_yaml("a: [1, 2]\n", "x.yaml", cache=True) == {"a": [1, 2]}
    assert cache_module.parsed_yaml("", "empty.yaml", cache=True) is None
    monkeypatch.undo()
    monkeypatch.setenv("MPS_VERIFY_CACHE_DIR", str(tmp_path))
    for _ in range(2):
        with pytest.raises(UsageError, match="not valid YAML"):
            cache_module.parsed_yaml("a: [1\n", "bad.yaml", cache=True)
