"""`make check` (python -m checks.check): one summary over the specs and the analyzers on the torch headers."""

import shutil
import subprocess

import pytest

from checks import check
from checks.sources import REPO_ROOT


def test_summaries_read_each_parts_json():
    assert check._specs({"summary": {"models": 2, "matched": 1},
                         "models": [{"name": "A", "match": True, "outcome": {"distinct": 10}},
                                    {"name": "B", "match": False, "outcome": {"distinct": 5}}]}) == \
        "1/2 models as the manifest expects; 15 distinct states; MISMATCH: B"
    assert "0 thread-safety annotations in 41 files (upstream PyTorch has none)" in check._tsa(
        {"totals": {"files": 41, "annotations": 0, "classes": 3, "guarded": 0, "need": 24, "coverage": 0.0}})
    assert check._lockgraph({"graph": {"nodes": [1, 2], "edges": [1], "cycles": [], "violations": [],
                                       "unknown": [1]}}) == \
        "2 lock classes, 1 edges, 0 cycles, 0 against the hierarchy, 1 unknown to it"


def test_worst_exit_code_wins(monkeypatch, capsys):
    def fake(part):
        part.exit_code = {"specs (fast tier, TLC)": 0}.get(part.name, 1)
        part.line = "x"
        return part

    monkeypatch.setattr(check, "run_part", fake)
    assert check.main([]) == 1
    assert "mps-verify check" in capsys.readouterr().out


def test_a_part_that_cannot_run_reports_its_error_line():
    part = check.run_part(check.Part("broken", ["checks.structural", "/nonexistent/path"], check._structural))
    assert part.exit_code == 2 and part.error and "nonexistent" in part.line


def _finding(path, line, rule, severity="error"):
    return {"path": path, "line": line, "col": 1, "severity": severity, "message": f"problem at {line}",
            "rule": rule}


def _done(n_structural, mismatched=False):
    specs, structural, tsa, lockgraph = check.parts()
    specs.data = {"models": [{"entry": {"name": "M"}, "match": not mismatched, "mismatch": "expected pass, got deadlock"}]}
    structural.data = {"findings": [_finding("b.h", n, "ST.006.a", "warning" if n % 2 else "error")
                                    for n in range(1, n_structural + 1)]}
    if n_structural >= 2:       # the same finding through both parts is listed once
        lockgraph.data = {"findings": [_finding("b.h", 2, "ST.006.a")]}
    return [specs, structural, tsa, lockgraph]


def test_findings_are_listed_errors_first_capped_with_the_command_for_the_rest():
    lines = check.finding_lines(_done(13, mismatched=True), cap=4)
    assert lines[0] == "findings (14, the first 4):"
    assert lines[1] == "  MISMATCH M: expected pass, got deadlock"
    assert lines[2:5] == ["  b.h:2:1: error: problem at 2 [ST.006.a]", "  b.h:4:1: error: problem at 4 [ST.006.a]",
                          "  b.h:6:1: error: problem at 6 [ST.006.a]"]
    assert lines[5] == "  ... 10 more: make structural lists them all"
    assert lines[6].endswith("docs/rules/<id>.md")


def test_nothing_listed_when_clean():
    assert check.finding_lines(_done(0)) == []


def test_the_main_job_prints_findings_under_the_table(monkeypatch, capsys):
    done = {part.name: part for part in _done(3)}

    def fake(part):
        part = done[part.name]
        part.exit_code = 1 if part.findings(part.data) else 0
        return part

    monkeypatch.setattr(check, "run_part", fake)
    assert check.main([]) == 1
    out = capsys.readouterr().out
    assert out.index("mps-verify check") < out.index("findings (3):") < out.index("b.h:2:1: error: problem at 2")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("rc, meaning", [(0, None), (1, "exit 1 = findings"), (2, "exit 2 = a usage or input error"),
                                         (3, "exit 3 = a required tool is missing")])
def test_make_check_passes_the_exit_code_through_and_says_what_it_means(tmp_path, rc, meaning):
    # a stand-in venv: its python plays checks.check, its stamp is fresh so make installs nothing
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "python"
    fake.write_text(f"#!/bin/sh\necho \"checks.check ran: $*\"\nexit {rc}\n")
    fake.chmod(0o755)
    (tmp_path / ".installed").touch()
    proc = subprocess.run(["make", "-s", "-C", str(REPO_ROOT), "check", f"VENV={tmp_path}"], capture_output=True,
                          text=True, timeout=60)
    assert "checks.check ran: -m checks.check" in proc.stdout
    if meaning is None:
        assert proc.returncode == 0 and "make check:" not in proc.stdout
    else:
        assert meaning in proc.stdout
        assert f"Error {rc}" in proc.stderr     # the code goes through; make itself then exits 2
        assert proc.returncode == 2
