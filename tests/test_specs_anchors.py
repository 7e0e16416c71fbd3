"""Code anchors: every model names the code it abstracts, and the check reports a missing file or function."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checks.cli import UsageError
from checks.sources import CORPUS_DIR, REPO_ROOT
from checks.specs import anchors
from checks.specs.__main__ import main as specs_main
from tests.fork_bundle import clone_fork

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "anchors"
REAL = REPO_ROOT / "specs" / "manifest.yaml"


@pytest.fixture(scope="module")
def fork_tree(tmp_path_factory):
    return clone_fork(tmp_path_factory.mktemp("fork") / "pr")


def _corpus() -> Path:
    if not (CORPUS_DIR / "aten" / "src" / "ATen" / "mps").is_dir():
        if os.environ.get("MPS_VERIFY_REQUIRE_CORPUS") == "1":
            pytest.fail(f"PyTorch 2.6.0 corpus missing at {CORPUS_DIR} (MPS_VERIFY_REQUIRE_CORPUS=1)")
        pytest.skip(f"PyTorch 2.6.0 corpus missing at {CORPUS_DIR}")
    return CORPUS_DIR


def test_every_model_is_anchored():
    found = anchors.read_anchors(REAL)
    assert found.covered and not [m for m, a in found.covered.items() if not a]


def test_anchors_hold_on_the_2_6_0_corpus(capsys):
    assert anchors.main(["--code", str(_corpus())]) == 0
    assert "OK" in capsys.readouterr().out


def test_fork_anchors_hold_on_the_fork_bundle(fork_tree, capsys):
    assert specs_main(["check-anchors", "--code", str(fork_tree), "--tree", "fork"]) == 0
    assert "OK" in capsys.readouterr().out


def test_fork_only_anchors_drift_on_upstream():
    """The fork's functions are not in 2.6.0: checking the fork anchors against it must fail."""
    report = anchors.check_tree(anchors.read_anchors(REAL), _corpus(), "fork")
    missing = {(d.model, d.function) for d in report.drift}
    assert ("ForkOomSync", "MPSStreamPool::synchronizeAllStreams") in missing
    assert ("AtForkBinding", "mps_child_atfork_handler") in missing


def test_project_anchors_hold_on_this_repository():
    report = anchors.check_tree(anchors.read_anchors(REAL), REPO_ROOT, "project")
    assert report.checked and not report.drift


def test_missing_function_and_file_are_drift(capsys):
    rc = anchors.main(["--code", str(FIXTURES / "tree"), "--manifest", str(FIXTURES / "manifest.yaml")])
    out = capsys.readouterr().out.splitlines()
    assert rc == 1
    assert out[:2] == [
        "Counter_pass: function MPSStream::commitAndWait is not defined in aten/src/ATen/mps/MPSStream.mm",
        "Counter_pass: file aten/src/ATen/mps/MPSAllocator.mm does not exist"]
    assert "2 drifted" in out[-1]


def test_variant_inherits_and_fork_anchor_applies_only_to_fork():
    found = anchors.read_anchors(FIXTURES / "manifest.yaml")
    assert found.covered["Counter_small"] == found.own["Counter_pass"]
    fork = anchors.check_tree(found, FIXTURES / "tree", "fork")
    assert ("Counter_pass", "MPSStreamPool::synchronizeAllStreams") in {(d.model, d.function) for d in fork.drift}


def test_unanchored_model_fails(tmp_path, capsys):
    text = (FIXTURES / "manifest.yaml").read_text()
    start = text.index("    code:")
    end = text.index("  - name: Counter_small")
    for name in ("Counter.tla", "Counter_pass.cfg", "Counter_small.cfg"):
        (tmp_path / name).write_text((FIXTURES / name).read_text())
    (tmp_path / "manifest.yaml").write_text(text[:start] + text[end:])
    rc = anchors.main(["--code", str(FIXTURES / "tree"), "--manifest", str(tmp_path / "manifest.yaml")])
    assert rc == 1
    assert "Counter_pass: no code anchors" in capsys.readouterr().out


@pytest.mark.parametrize("code, needle", [
    ("[]", "non-empty list of anchors"),
    ("[{file: /abs/x.mm, functions: [f]}]", "relative to the tree's root"),
    ("[{file: x.mm, functions: []}]", "non-empty list of function names"),
    ("[{file: x.mm, functions: [f], in: elsewhere}]", "in must be one of"),
    ("[{file: x.mm, functions: [f], line: 3}]", "unknown key line"),
])
def test_bad_anchor_is_one_line_usage_error(tmp_path, code, needle):
    for name in ("Counter.tla", "Counter_pass.cfg", "Counter_small.cfg"):
        (tmp_path / name).write_text((FIXTURES / name).read_text())
    text = (FIXTURES / "manifest.yaml").read_text()
    start, end = text.index("    code:"), text.index("  - name: Counter_small")
    (tmp_path / "manifest.yaml").write_text(text[:start] + f"    code: {code}\n" + text[end:])
    with pytest.raises(UsageError, match=needle):
        anchors.read_anchors(tmp_path / "manifest.yaml")


def test_missing_tree_is_exit_2(tmp_path):
    with pytest.raises(UsageError, match="no such directory"):
        anchors.main(["--code", str(tmp_path / "nope")])


def test_action_without_comment_is_flagged():
    assert anchors.uncommented_actions(FIXTURES / "Uncommented.tla") == [
        "Uncommented.tla:9: action Step has no comment naming the code it abstracts"]


def test_every_action_of_our_models_has_a_comment():
    modules = sorted({e.spec_path for e in anchors.load_manifest(REAL)})
    assert modules and [line for m in modules for line in anchors.uncommented_actions(m)] == []
