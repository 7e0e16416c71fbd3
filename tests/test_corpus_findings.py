"""The structural analyzer's findings on the real PyTorch 2.6.0 MPS tree equal the triaged list in
tests/fixtures/structural/corpus_2.6.0_expected.yaml (rule, path, function, anchor; no line numbers)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.corpus_tree import mps_dirs
import yaml

from analyzers.engine import analyze
from checks.sources import CORPUS_DIR

EXPECTED = Path(__file__).parent / "fixtures" / "structural" / "corpus_2.6.0_expected.yaml"
KEY = ("rule", "path", "function", "anchor")
VERDICTS = {"real", "design"}

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def corpus_dirs() -> list[Path]:
    return mps_dirs()


@pytest.fixture(scope="module")
def expected() -> list[dict]:
    data = yaml.safe_load(EXPECTED.read_text(encoding="utf-8"))
    return data["findings"]


def _entry(f) -> dict:
    return {"rule": f.rule, "path": f.path, "function": f.function, "anchor": f.anchor}


def test_expected_file_is_triaged(expected):
    assert expected, "the expected list is empty"
    for item in expected:
        assert set(KEY) <= set(item), item
        assert item["verdict"] in VERDICTS, item
        assert item.get("why", "").strip(), f"{item['rule']} {item['function']}: no reason given"
        assert not item["rule"].startswith("ST.009"), "ST.009 is pinned by the lock-graph tests"


def test_findings_on_2_6_0_match_the_triaged_list(corpus_dirs, expected):
    report = analyze(corpus_dirs, CORPUS_DIR, cache=False)
    got = Counter(tuple(_entry(f)[k] for k in KEY) for f in report.findings if not f.rule.startswith("ST.009"))
    want = Counter(tuple(item[k] for k in KEY) for item in expected)
    added = sorted((got - want).elements())
    removed = sorted((want - got).elements())
    diff = yaml.safe_dump({"new findings (triage, then add)": [dict(zip(KEY, k)) for k in added],
                           "no longer found (remove, or fix the rule)": [dict(zip(KEY, k)) for k in removed]},
                          sort_keys=False, width=120)
    assert not added and not removed, "analyzer output on PyTorch 2.6.0 changed:\n" + diff
