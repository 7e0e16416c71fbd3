"""ST.009 runs as a project rule of the structural analyzer on the catalogue's fixtures."""

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
