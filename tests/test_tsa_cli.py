"""`python -m checks.tsa` (inventory mode): formats, gates, exit codes, the real torch headers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "tsa"
INVENTORY = FIXTURES / "inventory"


def _cli(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checks.tsa", *argv], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)


def _json(*argv: str) -> dict:
    proc = _cli(*argv, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_torch_headers_have_no_annotations_and_pass():
    proc = _cli("--torch-headers")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"No thread-safety annotations in \d+ files \(upstream PyTorch MPS carries none\)", proc.stdout)
    assert "at::mps::MPSEventPool" in proc.stdout and "m_mutex (std::recursive_mutex)" in proc.stdout
    doc = _json("--torch-headers")
    assert doc["totals"]["annotations"] == 0 and doc["totals"]["files"] >= 10
    assert doc["tool"]["torch"] and doc["root"].endswith("include")
    assert {c["name"] for c in doc["classes"]} >= {"at::mps::HeapAllocator::MPSHeapAllocatorImpl",
                                                   "at::mps::MPSEventPool"}


def test_json_counts_paths_relative_to_root():
    doc = _json(str(INVENTORY))
    files = {f["path"]: f for f in doc["files"]}
    assert set(files) == {"coverage.h", "cxx11_attributes.h", "macros.h", "not_counted.h", "spellings.h"}
    assert files["spellings.h"]["annotations"] == 51 and files["macros.h"]["annotations"] == 0
    assert files["macros.h"]["definitions"] == 40
    assert files["coverage.h"]["coverage"] == round(5 / 9, 4)
    assert doc["tool"]["name"] == "mps-verify" and "FORK_" not in doc["prefixes"]


def test_prefix_option_and_config_section(tmp_path):
    doc = _json(str(INVENTORY / "spellings.h"), "--prefix", "FORK_")
    assert doc["files"][0]["counts"]["release_capability"] == 3
    shutil.copy(INVENTORY / "spellings.h", tmp_path)
    shutil.copy(INVENTORY / "macros.h", tmp_path)
    (tmp_path / "mps-verify.yaml").write_text("tsa:\n  prefixes: [FORK_]\n")
    assert _json(str(tmp_path / "spellings.h"))["files"][0]["counts"]["release_capability"] == 3


def test_text_and_markdown():
    text = _cli(str(INVENTORY)).stdout
    assert "Thread-safety annotations per file" in text and "fork::Registry" in text
    assert "thread-safety annotations in 3 of 5 files" in text
    md = _cli(str(INVENTORY), "--format", "markdown").stdout
    assert md.startswith("## Thread-safety annotations")
    assert "| `coverage.h` | 7 |" in md and "| `fork::Cache` (coverage.h:15) |" in md


def test_baseline_gate(tmp_path):
    base = tmp_path / "base.json"
    assert _cli(str(INVENTORY), "--write-baseline", str(base)).returncode == 0
    same = _cli(str(INVENTORY), "--baseline", str(base))
    assert same.returncode == 0 and f"No regressions against baseline {base}." in same.stdout
    head = tmp_path / "head"
    shutil.copytree(INVENTORY, head)
    cov = head / "coverage.h"
    cov.write_text(cov.read_text().replace("int* slots_ PT_GUARDED_BY(mutex_)", "int* slots_"))
    proc = _cli(str(head), "--baseline", str(base))
    assert proc.returncode == 1
    assert "coverage.h: pt_guarded_by was 1 now 0 (gone: fork::Cache::slots_)" in proc.stdout
    assert "coverage.h: fork::Cache::slots_ lost its annotation (was mutex_)" in proc.stdout
    doc = json.loads(_cli(str(head), "--baseline", str(base), "--format", "json").stdout)
    assert len(doc["regressions"]) == 2


def test_min_counts_gate():
    ok = _cli(str(INVENTORY), "--min-counts", str(FIXTURES / "min_counts_pass.yaml"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = _cli(str(INVENTORY), "--min-counts", str(FIXTURES / "min_counts_fail.yaml"))
    assert bad.returncode == 1
    assert "3 regressions against minimums" in bad.stdout
    for line in ("coverage.h: guarded_by 4 below minimum 6", "coverage.h: coverage 5/9 = 0.56 below minimum 0.90",
                 "MPSStream.h: file not found (minimums: guarded_by 1)"):
        assert line in bad.stdout


@pytest.mark.parametrize("argv, message", [
    ((), "nothing to analyse"),
    (("/nonexistent/dir",), "no such file or directory"),
    ((str(INVENTORY), "--format", "sarif"), "is for --clang"),
    ((str(INVENTORY), "--torch-headers"), "not both"),
    ((str(INVENTORY), "--min-counts", str(FIXTURES / "min_counts_bad.yaml")), "unknown kind 'guarded'"),
    ((str(INVENTORY), "--min-counts", "/nonexistent.yaml"), "cannot read min-counts"),
    ((str(INVENTORY), "--baseline", str(FIXTURES / "min_counts_pass.yaml")), "not a TSA inventory"),
    (("--bogus",), "unrecognized arguments"),
    ((str(INVENTORY), "--beta"), "--beta is only for --clang"),
    (("--clang", str(FIXTURES / "clang" / "clean.cpp"), "--baseline", "x.json"), "--baseline is for the inventory"),
    ((str(INVENTORY), "--baseline", "/nonexistent.json"), "cannot read baseline"),
    ((str(FIXTURES / "clang" / "tsa.h"), "--exclude", "*.h"), "nothing analysed: no readable C++/ObjC++ source"),
])
def test_usage_errors_are_one_line_exit_2(argv, message):
    proc = _cli(*argv)
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.count("\n") == 1 and message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("config, message", [
    ("tsa:\n  prefixes: FORK_\n", "prefixes must be a list of strings"),
    ("tsa: 3\n", "[tsa] must be a mapping"),
])
def test_bad_config_section(tmp_path, config, message):
    shutil.copy(INVENTORY / "coverage.h", tmp_path)
    (tmp_path / "mps-verify.yaml").write_text(config)
    proc = _cli(str(tmp_path / "coverage.h"))
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1


def test_unknown_config_key_is_a_warning_naming_it(tmp_path):
    shutil.copy(INVENTORY / "coverage.h", tmp_path)
    (tmp_path / "mps-verify.yaml").write_text("tsa:\n  prefix: [FORK_]\n")
    proc = _cli(str(tmp_path / "coverage.h"))
    assert proc.returncode == 0 and "warning:" in proc.stderr and "unknown key tsa.prefix" in proc.stderr
