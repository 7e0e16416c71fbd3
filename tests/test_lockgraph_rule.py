"""ST.009 runs as a project rule of the structural analyzer on the catalogue's fixtures."""

import pytest

from analyzers.catalogue import load_catalogue
from analyzers.engine import analyze
from checks.sources import REPO_ROOT

FIX = REPO_ROOT / "tests" / "fixtures" / "lockgraph"


def st009(*names):
    report = analyze([FIX / n for n in names], FIX, rules=["ST.009"], cache=False, jobs=1)
    return sorted((f.rule, f.path, f.line) for f in report.findings)


def test_flag_fixture_is_flagged_alone_and_as_a_pair():
    assert st009("inversion_a.mm") == [("ST.009.b", "inversion_a.mm", 16)]
    assert st009("inversion_a.mm", "inversion_b.mm") == [("ST.009.a", "inversion_b.mm", 13),
                                                         ("ST.009.b", "inversion_a.mm", 16)]


def test_pass_fixture_is_quiet():
    assert st009("recursive_ok.mm") == []


def _catalogue_entries():
    return [e for e in load_catalogue() if e.family == "ST.009"]



@pytest.mark.parametrize("entry", _catalogue_entries(), ids=lambda e: e.check.id)
def test_catalogue_fixtures_flag_and_pass(entry):
    """Each ST.009 sub-check's flag fixture yields that id; its pass fixture yields none of it."""
    flagged = analyze([entry.fixtures["flag"]], entry.fixtures["flag"].parent, rules=["ST.009"], cache=False, jobs=1)
    assert any(f.rule == entry.check.id for f in flagged.findings), flagged.findings
    quiet = analyze([entry.fixtures["pass"]], entry.fixtures["pass"].parent, rules=["ST.009"], cache=False, jobs=1)
    assert not any(f.rule == entry.check.id for f in quiet.findings)
