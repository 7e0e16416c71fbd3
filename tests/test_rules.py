"""Every ST check in the catalogue fires on its flag fixture (at the marked line, naming the marked
lock/queue/capture) and stays quiet on its pass fixture; the catalogue covers every family."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest

from analyzers.catalogue import load_catalogue
from analyzers.engine import analyze

FAMILIES = [f"ST.{n:03d}" for n in range(1, 17)]
ENTRIES = [e for e in load_catalogue() if e.family != "ST.000"]
RULE_ENTRIES = [e for e in ENTRIES if e.family != "ST.009"]   # ST.009's fixtures belong to the lock graph
MARK = re.compile(r"//\s*FLAG:\s*(.+?)\s*$")


@lru_cache(maxsize=None)
def _findings(path: Path, rules: str | None = None):
    report = analyze([path], path.parent, rules=[rules] if rules else None, cache=False, jobs=1)
    return tuple(report.findings)


def _marks(path: Path) -> list[tuple[int, str]]:
    """(line, expected name) for every `// FLAG: name` comment in a flag fixture."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(n, m.group(1)) for n, text in enumerate(lines, 1) if (m := MARK.search(text))]


def test_catalogue_has_every_family():
    families = {e.family for e in ENTRIES}
    assert families == set(FAMILIES)


def test_fixed_sub_checks_exist():
    ids = {e.check.id for e in ENTRIES}
    assert {"ST.003.e", "ST.012.f", "ST.009.a", "ST.009.b", "ST.009.c"} <= ids
    assert next(e for e in ENTRIES if e.check.id == "ST.003.e").check.severity == "info"
    assert next(e for e in ENTRIES if e.check.id == "ST.012.f").check.severity == "warning"
    for st009 in (e for e in ENTRIES if e.family == "ST.009"):
        assert all(p.is_file() for p in st009.fixtures.values()), f"{st009.check.id}'s lock-graph fixtures are missing"


@pytest.mark.parametrize("entry", RULE_ENTRIES, ids=lambda e: e.check.id)
def test_fixtures_exist_and_are_marked(entry):
    flag, ok = entry.fixtures["flag"], entry.fixtures["pass"]
    assert flag.is_file() and ok.is_file()
    assert flag.name.startswith(entry.check.id + "_flag") and ok.name.startswith(entry.check.id + "_pass")
    assert _marks(flag), f"{flag.name} has no // FLAG: marker"
    assert not _marks(ok), f"{ok.name} must not carry // FLAG: markers"


@pytest.mark.parametrize("entry", RULE_ENTRIES, ids=lambda e: e.check.id)
def test_flag_fixture_is_flagged(entry):
    cid = entry.check.id
    hits = [f for f in _findings(entry.fixtures["flag"]) if f.rule == cid]
    assert hits, f"{cid} did not fire on {entry.fixtures['flag'].name}"
    for line, name in _marks(entry.fixtures["flag"]):
        at_line = [f for f in hits if f.line == line]
        assert at_line, f"{cid}: no finding at line {line} (got lines {[f.line for f in hits]})"
        assert any(name in f.message for f in at_line), f"{cid}: message does not name {name!r}: {at_line[0].message}"
    for f in hits:
        assert f.severity == entry.check.severity
        assert f.anchor and str(f.line) not in f.anchor.split(" | "), "anchor must be line-independent"


@pytest.mark.parametrize("entry", RULE_ENTRIES, ids=lambda e: e.check.id)
def test_pass_fixture_is_not_flagged(entry):
    cid = entry.check.id
    hits = [f for f in _findings(entry.fixtures["pass"]) if f.rule == cid]
    assert not hits, f"{cid} fired on its pass fixture: {hits[0].message}"


def test_selecting_one_family_runs_only_it():
    path = next(e for e in RULE_ENTRIES if e.check.id == "ST.010.a").fixtures["flag"]
    rules = {f.rule for f in _findings(path, "ST.010")}
    assert rules == {"ST.010.a"}
    assert len({f.rule for f in _findings(path)}) > 1    # other families do fire on it without the filter


def test_fingerprint_survives_moved_code(tmp_path):
    src = next(e for e in RULE_ENTRIES if e.check.id == "ST.005.b").fixtures["flag"]
    moved = tmp_path / src.name
    moved.write_text("\n\n// a comment pushes everything down\n" + src.read_text(encoding="utf-8"))
    before = {f.fingerprint for f in _findings(src) if f.rule == "ST.005.b"}
    after = {f.fingerprint for f in analyze([moved], tmp_path, cache=False, jobs=1).findings if f.rule == "ST.005.b"}
    assert before and before == after


def test_related_location_points_at_the_lock():
    path = next(e for e in RULE_ENTRIES if e.check.id == "ST.004.a").fixtures["flag"]
    hit = next(f for f in _findings(path) if f.rule == "ST.004.a" and "m_mutex" in f.message)
    lock_line = next(n for n, t in enumerate(path.read_text().splitlines(), 1) if "lock_guard" in t)
    assert hit.related and hit.related[0].line == lock_line
