"""ST.015 on the real corpora reports exactly the triaged list (tests/fixtures/structural/ST.015_triage.yaml):
the PyTorch 2.6.0 MPS tree and the head of the dML stream-pool pull request (from ../shared/corpora)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml

from analyzers.engine import analyze
from checks.sources import CORPUS_DIR, MPS_SUBDIRS, REPO_ROOT

TRIAGE = Path(__file__).parent / "fixtures" / "structural" / "ST.015_triage.yaml"
BUNDLE = Path(os.environ.get("MPS_VERIFY_PR_BUNDLE",
                             REPO_ROOT.parent / "shared" / "corpora" / "dml-stream-pool-pr.bundle"))
KEY = ("rule", "path", "function", "anchor")

pytestmark = pytest.mark.corpus


def _expected(corpus: str) -> Counter:
    items = yaml.safe_load(TRIAGE.read_text(encoding="utf-8"))["findings"]
    return Counter(tuple(i[k] for k in KEY) for i in items if i["corpus"] == corpus)


def _found(root: Path) -> Counter:
    report = analyze([root / sub for sub in MPS_SUBDIRS], root, rules=["ST.015"], cache=False)
    return Counter((f.rule, f.path, f.function, f.anchor) for f in report.findings)


def test_triage_is_complete():
    for item in yaml.safe_load(TRIAGE.read_text(encoding="utf-8"))["findings"]:
        assert set(KEY) | {"corpus", "verdict", "why"} <= set(item), item
        assert item["verdict"] in ("real", "false", "unsure") and item["why"].strip(), item


def test_on_pytorch_2_6_0():
    if not all((CORPUS_DIR / sub).is_dir() for sub in MPS_SUBDIRS):
        if os.environ.get("MPS_VERIFY_REQUIRE_CORPUS") == "1":
            pytest.fail(f"PyTorch 2.6.0 MPS tree not found under {CORPUS_DIR}; run `make corpus`")
        pytest.skip(f"PyTorch 2.6.0 MPS tree not found under {CORPUS_DIR}; run `make corpus`")
    assert _found(CORPUS_DIR) == _expected("pytorch-2.6.0")


def test_on_the_fork_pull_request(tmp_path):
    if not BUNDLE.is_file():
        pytest.skip(f"the fork PR bundle is not at {BUNDLE} (set MPS_VERIFY_PR_BUNDLE to use another copy)")
    if shutil.which("git") is None:
        pytest.skip("git is not installed: cannot clone the fork PR bundle")
    subprocess.run(["git", "clone", "-q", "-b", "master", str(BUNDLE), str(tmp_path / "pr")], check=True)
    assert _found(tmp_path / "pr") == _expected("dml-pr-head")
