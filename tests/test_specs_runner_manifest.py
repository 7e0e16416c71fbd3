"""Manifest validation: every rule rejects a bad manifest with one line naming the model and key."""

import shutil
from pathlib import Path

import pytest

from checks.cli import UsageError
from checks.specs import manifest
from checks.specs.manifest import ApalacheSettings, load_manifest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "specs"
REAL = Path(__file__).resolve().parent.parent / "specs" / "manifest.yaml"

PASS = """
  - name: Counter_pass
    module: Counter
    cfg: Counter_pass.cfg
    tier: fast
    expect: pass
    distinct: 16
    total: 26
    shows: "bounded"
"""
INV = """
  - name: Counter_inv
    module: Counter
    cfg: Counter_inv.cfg
    tier: fast
    expect: "invariant: Bounded"
    variant_of: Counter_pass
    shows: "broken bound"
"""


@pytest.fixture
def folder(tmp_path):
    for name in ("Counter.tla", "Counter_pass.cfg", "Counter_inv.cfg", "Cycle.tla", "Cycle_loop.cfg"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    return tmp_path


def write(folder: Path, body: str) -> Path:
    path = folder / "manifest.yaml"
    path.write_text("models:" + body)
    return path


def test_valid_manifest_loads(folder):
    entries = load_manifest(write(folder, PASS + INV))
    assert [e.name for e in entries] == ["Counter_pass", "Counter_inv"]
    assert entries[0].spec_path == folder / "Counter.tla" and entries[1].cfg_path == folder / "Counter_inv.cfg"
    assert entries[1].variant_of == "Counter_pass" and entries[1].distinct is None


def test_apalache_settings_with_defaults(folder):
    body = PASS + INV.replace('shows: "broken bound"', 'shows: "broken bound"\n    apalache: {length: 4, inv: [Bounded], '
                                                       'cinit: ConstInit, expect: "invariant: Bounded"}')
    settings = load_manifest(write(folder, body))[1].apalache
    assert settings == ApalacheSettings(length=4, inv=("Bounded",), temporal=(), cinit="ConstInit",
                                        expect="invariant: Bounded")
    assert settings.init == "Init" and settings.next == "Next"


BAD = [
    ("unknown key", PASS.replace("shows:", "colour: red\n    shows:") + INV, "model Counter_pass: unknown key colour"),
    ("missing key", PASS.replace('    shows: "bounded"\n', "") + INV, "model Counter_pass: missing key shows"),
    ("missing cfg", PASS + INV.replace("Counter_inv.cfg", "Nope.cfg"), "model Counter_inv: cfg: "),
    ("missing module", PASS.replace("module: Counter", "module: Nope") + INV, "model Counter_pass: module: "),
    ("bad tier", PASS.replace("tier: fast", "tier: medium") + INV, "model Counter_pass: tier 'medium'"),
    ("bad expect", PASS + INV.replace('"invariant: Bounded"', '"invariant Bounded"'), "model Counter_inv: expect"),
    ("no counts", PASS.replace("distinct: 16", "distinct: null") + INV, "needs exact distinct and total"),
    ("counts on violation", PASS + INV.replace("tier: fast", "tier: fast\n    distinct: 4"), "set them to null"),
    ("duplicate", PASS + INV + PASS, "model Counter_pass: duplicate name"),
    ("variant of unknown", PASS + INV.replace("variant_of: Counter_pass", "variant_of: Ghost"),
     "model Counter_inv: variant_of: no model named Ghost"),
    ("variant of non-passing", PASS + INV + INV.replace("Counter_inv", "Counter_inv2", 1)
     .replace("variant_of: Counter_pass", "variant_of: Counter_inv"), "Counter_inv is not a passing model"),
    ("unrefuted invariant", PASS, "model Counter_pass: invariant Bounded is never refuted"),
    ("expects what the cfg does not check", PASS + INV + INV.replace("Counter_inv", "Counter_other", 1)
     .replace("invariant: Bounded", "invariant: Other"), "Counter_other: expects invariant: Other but"),
    ("bad apalache", PASS + INV + "    apalache: {length: -1}\n", "apalache.length"),
    ("unknown apalache key", PASS + INV + "    apalache: {length: 3, depth: 2}\n", "unknown key apalache.depth"),
]


@pytest.mark.parametrize("body,needle", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_manifest_is_one_line_usage_error(folder, body, needle):
    with pytest.raises(UsageError) as err:
        load_manifest(write(folder, body))
    text = str(err.value)
    assert needle in text and "\n" not in text


@pytest.mark.parametrize("text", ["models: [unclosed", "- a list\n", "models: []\n", "models: {}\n",
                                  "models: []\nextra: 1\n"])
def test_malformed_manifest(folder, text):
    path = folder / "manifest.yaml"
    path.write_text(text)
    with pytest.raises(UsageError):
        load_manifest(path)


def test_missing_manifest(tmp_path):
    with pytest.raises(UsageError, match="cannot read manifest"):
        load_manifest(tmp_path / "none.yaml")


def test_stale_generated_hierarchy_fails_validation(monkeypatch):
    hierarchy = pytest.importorskip("checks.specs.hierarchy")
    monkeypatch.setattr(hierarchy, "check_generated", lambda: "specs/LockHierarchyData.tla:3: out of date")
    with pytest.raises(UsageError, match="out of date"):
        manifest._hierarchy_check()
    monkeypatch.setattr(hierarchy, "check_generated", lambda: None)
    manifest._hierarchy_check()


def test_project_manifest_is_valid():
    if not REAL.exists():
        pytest.skip("specs/manifest.yaml not written yet")
    entries = load_manifest(REAL)
    assert any(e.tier == "fast" for e in entries)
    assert all(e.expect != "pass" or e.distinct is not None or e.simulate is not None for e in entries)


def test_only_skips_the_hierarchy_check_for_models_that_do_not_use_it(monkeypatch):
    hierarchy = pytest.importorskip("checks.specs.hierarchy")
    if not REAL.exists():
        pytest.skip("specs/manifest.yaml not written yet")
    monkeypatch.setattr(hierarchy, "check_generated", lambda: "specs/LockHierarchyData.tla:3: out of date")
    assert load_manifest(REAL, only=["AGXEncoderRace_none"])
    with pytest.raises(UsageError, match="out of date"):
        load_manifest(REAL, only=["LockHierarchy_large"])
    with pytest.raises(UsageError, match="out of date"):
        load_manifest(REAL)
