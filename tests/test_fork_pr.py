"""The gate on the real fork pull request blocks on exactly the triaged findings, at the stated precision.

Uses ../shared/corpora/dml-stream-pool-pr.bundle (skipped, saying why, when it is absent)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from checks.sources import REPO_ROOT
from tests.fork_bundle import clone_fork

EXPECTED = REPO_ROOT / "tests" / "fixtures" / "gate" / "fork_pr_expected.yaml"
KEY = ("rule", "path", "function")


@pytest.fixture(scope="module")
def gate_result(tmp_path_factory) -> dict:
    repo = clone_fork(tmp_path_factory.mktemp("fork") / "pr")
    proc = subprocess.run([sys.executable, "-m", "checks.gate", "--base", "HEAD~1", "--repo", str(repo),
                           "--format", "json", "--no-cache"], capture_output=True, text=True, cwd=REPO_ROOT,
                          timeout=600)
    assert proc.returncode == 1, proc.stderr
    return json.loads(proc.stdout)


def test_expected_file_is_triaged():
    data = yaml.safe_load(EXPECTED.read_text(encoding="utf-8"))
    for item in data["blocking"]:
        assert item["verdict"] in ("real", "false", "unsure") and item["why"].strip(), item


def test_the_gate_blocks_on_exactly_the_triaged_findings(gate_result):
    data = yaml.safe_load(EXPECTED.read_text(encoding="utf-8"))
    got = Counter(tuple(f[k] for k in KEY) for f in gate_result["new"] if f["severity"] == "error")
    want = Counter(tuple(item[k] for k in KEY) for item in data["blocking"])
    added, removed = sorted((got - want).elements()), sorted((want - got).elements())
    assert not added and not removed, yaml.safe_dump({"blocking now (triage, then add)": [dict(zip(KEY, k)) for k in added],
                                                      "no longer blocking": [dict(zip(KEY, k)) for k in removed]})
    real = sum(item["verdict"] == "real" for item in data["blocking"])
    assert real / len(data["blocking"]) >= data["min_precision"]


def test_every_new_mutex_of_the_pr_is_a_tsa_regression(gate_result):
    """alignas(64) members, std::array<std::mutex, N> and recursive mutexes included."""
    text = "\n".join(gate_result["tsa_regressions"])
    for name in ("BufferPool::pool_mutex", "MPSStreamPool::stream_creation_mutex_", "MPSEvent::m_mutex",
                 "MetalShaderLibrary::cacheMutexes_", "MPSStream::_streamMutex", "MPSProfiler::m_profiler_mutex",
                 "s_solve_triangular_mutex"):
        assert name in text, name
