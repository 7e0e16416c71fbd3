"""A repository's own lock_hierarchy.yaml: the lock graph, the structural run and the gate (from the BASE
revision) judge its locks by it; the fork's example hierarchy judges the fork's new locks (ST.009.b)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analyzers.engine import analyze
from analyzers.hierarchy import DEFAULT_PATH, REPO_FILE, find_hierarchy, load_hierarchy, repository_settings
from checks.cli import UsageError
from checks.lockgraph import analyse
from checks.sources import REPO_ROOT
from tests.fork_bundle import clone_fork
from tests.gitrepo import commit, git

FIX = Path(__file__).resolve().parent / "fixtures" / "hierarchy"
FORK_EXAMPLE = REPO_ROOT / "docs" / "examples" / "fork_lock_hierarchy.yaml"
CORE = "aten/src/ATen/mps"


@pytest.fixture(scope="module")
def fork_tree(tmp_path_factory):
    return clone_fork(tmp_path_factory.mktemp("fork") / "pr")


def _rules(report, prefix):
    return {f.anchor for f in report.findings if f.rule == prefix}


def test_fork_example_judges_the_forks_new_locks(fork_tree):
    """ST.009.b on the fork's own locks: the profiler mutex held across a GPU wait; none of its locks is unknown
    (ST.009.c) under its hierarchy. The stream mutex is not held into dispatch_sync: fill()'s block runs on the
    stream's queue, where synchronize() re-enters inline (its dispatch_get_specific guard)."""
    paths = [fork_tree / CORE, fork_tree / "aten/src/ATen/native/mps"]
    _, report = analyse(paths, fork_tree, FORK_EXAMPLE)
    order = _rules(report, "ST.009.b")
    assert "order:profiler_mutex | gpu_wait" in order
    assert "order:stream_mutex | stream_queue" not in order
    assert not _rules(report, "ST.009.c")
    assert report.extra["hierarchy"] == str(FORK_EXAMPLE)


def test_our_hierarchy_does_not_know_the_forks_locks(fork_tree):
    _, report = analyse([fork_tree / CORE], fork_tree)
    assert report.extra["hierarchy"] == str(DEFAULT_PATH)
    unknown = " ".join(f.message for f in report.findings if f.rule == "ST.009.c")
    assert "MPSStream::_streamMutex" in unknown and "MPSProfiler::m_profiler_mutex" in unknown
    assert not any("profiler_mutex" in a for a in _rules(report, "ST.009.b"))


def test_a_fork_with_its_own_file_is_judged_by_it(fork_tree, tmp_path):
    repo = tmp_path / "fork"
    shutil.copytree(fork_tree / CORE, repo / CORE)
    (repo / ".git").mkdir()
    shutil.copy(FORK_EXAMPLE, repo / REPO_FILE)
    assert find_hierarchy(repo / CORE) == repo / REPO_FILE
    _, report = analyse([repo / CORE], repo / CORE)
    assert report.extra["hierarchy"] == str(repo / REPO_FILE)
    assert "order:profiler_mutex | gpu_wait" in _rules(report, "ST.009.b")
    # the structural run (engine settings) uses the same file
    structural = analyze([repo / CORE], repo, rules=["ST.009"], cache=False, settings=repository_settings(repo))
    assert "order:profiler_mutex | gpu_wait" in _rules(structural, "ST.009.b")


def test_the_search_stops_at_the_checkout_top(tmp_path):
    (tmp_path / REPO_FILE).write_text("version: 1\nlocks: []\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    assert find_hierarchy(repo / "src") is None


def test_bad_repository_hierarchy_is_a_usage_error(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / REPO_FILE).write_text("locks:\n  - {name: Bad Name, kind: mutex, level: 1}\n")
    with pytest.raises(UsageError, match="lower_snake_case"):
        repository_settings(tmp_path)


def test_fork_example_is_a_valid_hierarchy_with_the_upstream_locks():
    """The LockHierarchy model names upstream's locks: the fork's file keeps them, so it can drive the model."""
    fork, ours = load_hierarchy(FORK_EXAMPLE), load_hierarchy()
    assert {l.name for l in ours.locks} <= {l.name for l in fork.locks}


@pytest.fixture
def gate_repo(tmp_path):
    """Base: the fork's hierarchy file and code taking outer -> inner."""
    repo = tmp_path / "repo"
    (repo / CORE).mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    shutil.copy(FIX / "lock_hierarchy.yaml", repo / REPO_FILE)
    shutil.copy(FIX / "Thing.mm", repo / CORE / "Thing.mm")
    commit(repo, "base")
    return repo


def run_gate(repo):
    cmd = [sys.executable, "-m", "checks.gate", "--base", "main~1", "--repo", str(repo), "--no-cache"]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)


def test_gate_judges_by_the_base_revisions_hierarchy(gate_repo):
    """The PR reverses the order and swaps the levels in its own copy: the base's file still judges it."""
    shutil.copy(FIX / "Thing_reversed.mm", gate_repo / CORE / "Thing.mm")
    shutil.copy(FIX / "lock_hierarchy_swapped.yaml", gate_repo / REPO_FILE)
    commit(gate_repo, "pr")
    proc = run_gate(gate_repo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ST.009.b" in proc.stdout and "outer_mutex" in proc.stdout


def test_gate_passes_a_pr_that_keeps_the_declared_order(gate_repo):
    (gate_repo / CORE / "Thing.mm").write_text((FIX / "Thing.mm").read_text() + "\n// a comment\n")
    commit(gate_repo, "pr")
    proc = run_gate(gate_repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gate_without_a_base_file_uses_ours(gate_repo):
    """Remove the file in a new base: the locks are unknown to our hierarchy (ST.009.c), not misordered."""
    git(gate_repo, "rm", "-q", REPO_FILE)
    commit(gate_repo, "base without a hierarchy")
    shutil.copy(FIX / "Thing_reversed.mm", gate_repo / CORE / "Thing.mm")
    commit(gate_repo, "pr")
    proc = run_gate(gate_repo)
    assert proc.returncode in (0, 1) and "gate " in proc.stdout, proc.stdout + proc.stderr
    assert "ST.009.b" not in proc.stdout, proc.stdout


def test_lock_hierarchy_model_generated_from_the_fork_file_runs(tmp_path):
    """The LockHierarchy model's data generated from the fork's file: TLC still gives the manifest's result
    (the model's paths use upstream's locks, which the fork keeps at the same relative order)."""
    import yaml

    specs = tmp_path / "specs"
    shutil.copytree(REPO_ROOT / "specs", specs, ignore=shutil.ignore_patterns("*.yaml"))
    gen = [sys.executable, "-m", "checks.specs.hierarchy", "--write", "--hierarchy", str(FORK_EXAMPLE),
           "--module", str(specs / "LockHierarchyData.tla")]
    subprocess.run(gen, check=True, capture_output=True, cwd=REPO_ROOT)
    assert "GENERATED from fork_lock_hierarchy.yaml" in (specs / "LockHierarchyData.tla").read_text()
    models = yaml.safe_load((REPO_ROOT / "specs" / "manifest.yaml").read_text())["models"]
    keep = [m for m in models if m["name"] in ("LockHierarchy", "LockHierarchy_reverse_order")]
    (specs / "manifest.yaml").write_text(yaml.safe_dump({"models": keep}))
    proc = subprocess.run([sys.executable, "-m", "checks.specs", "--manifest", str(specs / "manifest.yaml"),
                           "--only", "LockHierarchy", "--artifacts", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
