"""The CI gate on real temporary git repositories: new problems block, old debt and moved code do not."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gitrepo import commit, git, make_fork

FIX = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parent.parent
NATIVE = "aten/src/ATen/native/mps"
CORE = "aten/src/ATen/mps"


@pytest.fixture
def fork(tmp_path):
    """A fork with one clean op, one op with old debt, and an annotated header on the base commit."""
    return make_fork(tmp_path)


def run_gate(repo, *extra, env=None):
    cmd = [sys.executable, "-m", "checks.gate", "--base", "main~1", "--repo", str(repo), "--no-cache", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)


def pr(repo, change):
    change(repo)
    commit(repo, "pr")


def test_clean_pr_passes(fork):
    pr(fork, lambda r: (r / "README").write_text("docs only\n"))
    proc = run_gate(fork)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gate passed: 0 new" in proc.stdout


def test_a_pr_touching_non_source_files_in_the_gated_folders_passes(fork):
    def add(r):
        (r / NATIVE / "kernels").mkdir()
        (r / NATIVE / "kernels" / "Unary.metal").write_text("kernel void f() {}\n")
        (r / CORE / "NOTES.txt").write_text("notes\n")
    pr(fork, add)
    proc = run_gate(fork)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gate passed: 0 new" in proc.stdout


def test_new_st001_violation_fails_with_annotation(fork, tmp_path):
    def add(r):
        text = (FIX / "structural" / "ST.001.a_flag.mm").read_text()
        (r / NATIVE / "Fill.mm").write_text(text)

    pr(fork, add)
    summary = tmp_path / "summary.md"
    proc = run_gate(fork, "--annotations", "on", "--summary", str(summary), "--sarif", str(tmp_path / "g.sarif"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stdout.splitlines() if line.startswith("::error ")]
    assert any(f"file={NATIVE}/Fill.mm" in line and "title=ST.001" in line for line in errors), proc.stdout
    assert not any("Legacy.mm" in line for line in errors)      # old debt is not new
    md = summary.read_text()
    assert "blocked" in md and f"{NATIVE}/Fill.mm" in md


def test_moving_old_debt_passes(fork):
    def move(r):
        text = (r / NATIVE / "Legacy.mm").read_text()
        (r / NATIVE / "Legacy.mm").write_text("// moved down\n\n\n\n" + text)

    pr(fork, move)
    proc = run_gate(fork, "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["summary"]["new"] == 0 and doc["summary"]["unchanged"] >= 1


def test_renaming_the_receiver_of_old_debt_passes(fork):
    def rename(r):
        text = (r / NATIVE / "Legacy.mm").read_text()
        (r / NATIVE / "Legacy.mm").write_text(text.replace("stream", "current_stream"))
    pr(fork, rename)
    proc = run_gate(fork, "--format", "json")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert doc["summary"]["new"] == 0 and doc["summary"]["fixed"] == 0 and doc["summary"]["unchanged"] >= 1


def test_deleting_annotations_fails_tsa_regression(fork):
    def strip(r):
        h = r / CORE / "MPSCounters.h"
        h.write_text(h.read_text().replace(" MPS_GUARDED_BY(m_mutex)", ""))

    pr(fork, strip)
    proc = run_gate(fork)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "TSA regression" in proc.stdout and "MPSCounters.h" in proc.stdout


def test_lock_inversion_fails(fork):
    def invert(r):
        shutil.copy(FIX / "lockgraph" / "inversion_a.mm", r / CORE / "EventPool.mm")
        shutil.copy(FIX / "lockgraph" / "inversion_b.mm", r / CORE / "Allocator.mm")

    pr(fork, invert)
    proc = run_gate(fork, "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    new = json.loads(proc.stdout)["new"]
    assert any(f["rule"].startswith("ST.009") and f["severity"] == "error" for f in new), new


def test_sarif_has_what_code_scanning_needs(fork, tmp_path):
    pr(fork, lambda r: shutil.copy(FIX / "structural" / "ST.001.a_flag.mm", r / NATIVE / "Fill.mm"))
    out = tmp_path / "gate.sarif"
    run_gate(fork, "--sarif", str(out))
    log = json.loads(out.read_text())
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert rules and all(r["id"] and r["shortDescription"]["text"] for r in rules)
    assert run["results"]
    for res in run["results"]:
        assert res["ruleId"] and res["level"] in ("error", "warning", "note") and res["message"]["text"]
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"].startswith("aten/src/ATen/")       # repo-relative
        assert loc["region"]["startLine"] >= 1
        assert res["partialFingerprints"]


@pytest.mark.parametrize("args, needle", [(["--base", "nope"], "unknown revision"),
                                          (["--base", "HEAD", "--repo", "/nonexistent"], "no such directory")])
def test_bad_input_is_one_line_exit_2(args, needle, tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    proc = subprocess.run([sys.executable, "-m", "checks.gate", "--repo", str(repo), *args],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and needle in proc.stderr and proc.stderr.count("\n") == 1
