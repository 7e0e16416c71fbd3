"""The gate never trusts the pull request: its settings, baselines, attributes and file names (issue #15, part 1).

Every case is a real temporary git repository: a base commit, and a pull request adding a hazard
(an ST.001.a error) together with an attempt to make the gate pass anyway.
"""

import json
import os
import re
import shutil

import pytest

from tests.gitrepo import commit, git
from tests.hostile.conftest import HAZARD, NATIVE, gate


def add_hazard(repo, name="Fill.mm"):
    shutil.copy(HAZARD, repo / NATIVE / name)


def test_the_hazard_alone_blocks(fork):
    add_hazard(fork)
    commit(fork, "pr")
    proc = gate(fork)
    assert proc.returncode == 1, proc.stdout + proc.stderr


@pytest.mark.parametrize("settings", [
    "gate:\n  paths: [docs]\n",
    "structural:\n  exclude: ['*']\n",
    "structural:\n  rules: [ST.000]\n",
    "gate:\n  paths: [docs]\nstructural:\n  exclude: ['*']\n  rules: [ST.000]\n",
])
def test_settings_added_by_the_pull_request_are_not_used(fork, settings):
    (fork / "docs").mkdir()
    (fork / "docs" / "x.h").write_text("int x;\n")
    (fork / "mps-verify.yaml").write_text(settings)
    add_hazard(fork)
    commit(fork, "pr: hazard and settings that would hide it")
    proc = gate(fork, "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert any(f["rule"].startswith("ST.001") for f in doc["new"])
    assert doc["settings_changes"], doc                      # and the change is reported


def test_pyproject_settings_of_the_pull_request_are_not_used(fork):
    (fork / "pyproject.toml").write_text('[tool.mps-verify.structural]\nexclude = ["*"]\n')
    add_hazard(fork)
    commit(fork, "pr")
    proc = gate(fork)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "settings: settings [structural] differ at head" in proc.stdout


def _fingerprints(fork):
    """The new findings' fingerprints, as a baseline document."""
    proc = gate(fork, "--format", "json")
    prints = [{"fingerprint": f["fingerprint"]} for f in json.loads(proc.stdout)["new"]]
    return json.dumps({"version": 1, "tool": {}, "fingerprints": prints})


def test_a_baseline_of_the_pull_request_is_not_used(fork):
    add_hazard(fork)
    commit(fork, "hazard")
    (fork / "accepted.json").write_text(_fingerprints(fork))
    (fork / "mps-verify.yaml").write_text("gate:\n  baseline: accepted.json\n")
    commit(fork, "pr: baseline accepting the hazard")
    proc = gate(fork, "--base", "HEAD~2")
    assert proc.returncode == 1, proc.stdout + proc.stderr


def test_the_base_baseline_edited_by_the_pull_request_is_not_used(fork):
    (fork / "accepted.json").write_text(json.dumps({"version": 1, "tool": {}, "fingerprints": []}))
    (fork / "mps-verify.yaml").write_text("gate:\n  baseline: accepted.json\n")
    commit(fork, "base with an empty baseline")
    add_hazard(fork)
    commit(fork, "hazard")
    prints = _fingerprints(fork)
    (fork / "accepted.json").write_text(prints)
    commit(fork, "accept it")
    proc = gate(fork, "--base", "HEAD~2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "baseline accepted.json differs at head" in proc.stdout
    # --baseline inside the repository is read from the base revision too
    proc = gate(fork, "--base", "HEAD~2", "--baseline", str(fork / "accepted.json"))
    assert proc.returncode == 1, proc.stdout + proc.stderr


def test_a_baseline_from_the_base_is_honoured(fork):
    add_hazard(fork)
    commit(fork, "hazard")
    prints = _fingerprints(fork)
    git(fork, "reset", "-q", "--hard", "HEAD~1")
    (fork / "accepted.json").write_text(prints)
    (fork / "mps-verify.yaml").write_text("gate:\n  baseline: accepted.json\n")
    commit(fork, "base accepts it")
    add_hazard(fork)
    commit(fork, "pr")
    proc = gate(fork)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_settings_changes_block_with_strict(fork):
    (fork / "mps-verify.yaml").write_text("structural:\n  exclude: [Legacy.mm]\n")
    commit(fork, "pr: only settings")
    assert gate(fork).returncode == 0
    proc = gate(fork, "--strict")
    assert proc.returncode == 1 and "settings change" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("attributes", ["*.mm export-ignore\n", "Fill.mm working-tree-encoding=UTF-16\n",
                                        "Fill.mm export-subst\n"])
def test_gitattributes_of_the_pull_request_do_not_change_what_is_read(fork, attributes):
    (fork / ".gitattributes").write_text(attributes)
    if "UTF-16" in attributes:     # git stores it as UTF-8, which is what reviewers see; an export converts back
        (fork / NATIVE / "Fill.mm").write_bytes(HAZARD.read_text().encode("utf-16"))
    elif "export-subst" in attributes:     # reviewers see a line comment; an export would open a block comment
        (fork / NATIVE / "Fill.mm").write_text("// $Format:%n/*$\n" + HAZARD.read_text())
    else:
        add_hazard(fork)
    commit(fork, "pr")
    proc = gate(fork, "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert any(f["path"] == f"{NATIVE}/Fill.mm" for f in json.loads(proc.stdout)["new"])


@pytest.mark.parametrize("name", ["Fïll.mm", 'Fi"ll.mm', "Fi\tll.mm", "Fi\nll.mm", "Fi\\ll.mm", "Fi ll.mm"])
def test_names_git_would_quote_are_analysed(fork, name):
    add_hazard(fork, name)
    commit(fork, "pr")
    proc = gate(fork, "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert any(f["path"] == f"{NATIVE}/{name}" for f in json.loads(proc.stdout)["new"])


def test_a_name_that_is_not_utf8_is_analysed(fork):
    add_hazard(fork, os.fsdecode(b"F\xffill.mm"))
    commit(fork, "pr")
    proc = gate(fork, "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert any(f["path"] == f"{NATIVE}/F\\xffill.mm" for f in json.loads(proc.stdout)["new"])
    proc = gate(fork)
    assert proc.returncode == 1 and "F\\xffill.mm" in proc.stdout


def test_paths_matching_nothing_are_a_usage_error(fork):
    add_hazard(fork)
    commit(fork, "pr")
    proc = gate(fork, "--paths", "no/such/folder")
    assert proc.returncode == 2 and "matches nothing" in proc.stderr and proc.stderr.count("\n") == 1
    proc = gate(fork, "--paths", "aten/src/ATen/mps", "typo/folder")
    assert proc.returncode == 2 and "typo/folder" in proc.stderr


def test_config_paths_matching_nothing_are_a_usage_error(fork):
    (fork / "mps-verify.yaml").write_text("gate:\n  paths: [aten/src/ATen/mpss]\n")
    commit(fork, "base settings with a typo")
    add_hazard(fork)
    commit(fork, "pr")
    proc = gate(fork)
    assert proc.returncode == 2 and "matches nothing" in proc.stderr


def test_a_folder_without_sources_is_nothing_analysed(fork):
    (fork / "docs").mkdir()
    (fork / "docs" / "notes.txt").write_text("x\n")
    commit(fork, "pr")
    proc = gate(fork, "--paths", "docs")
    assert proc.returncode == 2 and "nothing analysed" in proc.stderr


def test_parse_problems_of_changed_files_are_shown(fork, tmp_path):
    text = HAZARD.read_text() + "\nvoid broken() { if (x) {\n"
    (fork / NATIVE / "Fill.mm").write_text(text)
    commit(fork, "pr")
    summary = tmp_path / "summary.md"
    proc = gate(fork, "--summary", str(summary))
    assert proc.returncode == 1
    assert "parse problem(s): this finding may come from them" in proc.stdout, proc.stdout
    assert "note: parse:" in proc.stdout
    assert "parse problem" in summary.read_text()
    doc = json.loads(gate(fork, "--format", "json").stdout)
    assert any(d["kind"] == "parse" and d["path"].endswith("Fill.mm") for d in doc["diagnostics"])


def test_crafted_names_inject_no_workflow_command_or_link(fork, tmp_path):
    names = ["x\n::notice title=pwned::owned\n.mm", "::warning::pwned.mm", "a](javascript:alert(1))[b.mm",
             "c`<img src=x>`|d.mm"]
    for name in names:
        add_hazard(fork, name)
    commit(fork, "pr")
    summary = tmp_path / "summary.md"
    env = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r"}
    proc = gate(fork, "--annotations", "on", "--summary", str(summary), env=env)
    assert proc.returncode == 1
    for line in proc.stdout.splitlines():
        if line.startswith("::"):        # only our own annotations, one per finding, names escaped
            assert line.startswith(("::error file=", "::warning file=", "::notice file=")), line
            assert "::notice title=pwned" not in line.split("::", 2)[1]
    md = summary.read_text()
    assert not re.search(r"(?<!\\)\]\(javascript", md), md
    assert not re.search(r"(?<![\\&])<img", md), md
    assert "\n::notice" not in md


def test_a_symlink_in_the_pull_request_is_not_followed(fork):
    os.symlink("/etc/hostname", fork / NATIVE / "Leak.mm")
    add_hazard(fork)
    commit(fork, "pr")
    proc = gate(fork, "--format", "json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert any("symbolic link" in d["message"] for d in doc["diagnostics"]), doc["diagnostics"]


def test_a_changed_file_over_the_size_limit_blocks(fork):
    (fork / NATIVE / "Big.mm").write_text("// padding\n" * 200 + HAZARD.read_text())
    commit(fork, "pr")
    proc = gate(fork, "--max-file-bytes", "1000", "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["summary"]["incomplete"] == 1 and not doc["new"]


def test_explicit_config_inside_the_repo_is_read_from_the_base(fork):
    (fork / "ci.yaml").write_text("structural:\n  rules: [ST.001]\n")
    commit(fork, "base config")
    (fork / "ci.yaml").write_text("structural:\n  rules: [ST.000]\n")
    add_hazard(fork)
    commit(fork, "pr")
    proc = gate(fork, "--config", str(fork / "ci.yaml"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "settings [structural] differ" in proc.stdout


def test_a_default_folder_missing_from_the_fork_is_fine(fork):
    git(fork, "rm", "-rq", "aten/src/ATen/mps")
    commit(fork, "a fork without the core folder")
    add_hazard(fork)
    commit(fork, "pr")
    proc = gate(fork)
    assert proc.returncode == 1 and "new (1 blocking)" in proc.stdout, proc.stdout + proc.stderr


def test_an_analysis_failure_in_a_changed_file_blocks():
    from analyzers.findings import Diagnostic
    from checks.gate.diff import FindingDiff
    from checks.gate.summary import GateResult, markdown, text

    failure = Diagnostic(f"{NATIVE}/Fill.mm", 1, "rule ST.004 failed: RuntimeError: x", "internal")
    result = GateResult("a" * 40, "b" * 40, FindingDiff(), [], diagnostics=[failure])
    assert result.failed and result.incomplete == [failure]
    assert "error: internal: rule ST.004 failed" in text(result) and "gate FAILED" in text(result)
    assert "Analysis incomplete (blocks)" in markdown(result)
    assert not GateResult("a" * 40, "b" * 40, FindingDiff(), []).failed
