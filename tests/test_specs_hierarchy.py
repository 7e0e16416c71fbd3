"""specs/LockHierarchyData.tla is generated from specs/lock_hierarchy.yaml, drift is caught, and TLC reads it."""

import re
import shutil
import subprocess
import sys

import pytest
import yaml

from analyzers.hierarchy import load_hierarchy
from checks import tools
from checks.sources import REPO_ROOT
from checks.specs import hierarchy as gen

SPECS = REPO_ROOT / "specs"


def _yaml_copy(tmp_path, **levels):
    """A copy of the real hierarchy YAML with some levels changed."""
    data = yaml.safe_load(gen.YAML_PATH.read_text(encoding="utf-8"))
    for lock in data["locks"]:
        lock["level"] = levels.get(lock["name"], lock["level"])
    path = tmp_path / "lock_hierarchy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "checks.specs.hierarchy", *map(str, args)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


def test_committed_module_is_up_to_date():
    assert gen.check_generated() is None


def test_generated_module_has_every_lock_with_its_level_and_kind():
    text = gen.render_tla(load_hierarchy())
    for lock in load_hierarchy().locks:
        assert re.search(rf'l = "{lock.name}" -> {lock.level}\b', text), lock.name
        assert f'l = "{lock.name}" -> "{lock.kind}"' in text
    assert text.count("\\* @type:") == 4                     # Locks, Level, Kind, Recursive


def test_changed_level_is_drift(tmp_path):
    changed = _yaml_copy(tmp_path, allocator_mutex=35)
    problem = gen.check_generated(gen.GENERATED_PATH, changed)
    assert problem is not None and "out of date" in problem and "\n" not in problem
    assert gen.check_generated(gen.GENERATED_PATH, _yaml_copy(tmp_path)) is None   # unchanged copy: no drift


def test_edited_module_is_drift(tmp_path):
    edited = tmp_path / "LockHierarchyData.tla"
    edited.write_text(gen.GENERATED_PATH.read_text().replace("-> 30", "-> 31"), encoding="utf-8")
    assert "LockHierarchyData.tla:" in gen.check_generated(edited)
    assert "cannot read" in gen.check_generated(tmp_path / "missing.tla")


def test_cli_checks_writes_and_rejects_bad_input(tmp_path):
    module = tmp_path / "LockHierarchyData.tla"
    shutil.copy(gen.GENERATED_PATH, module)
    assert _cli("--module", module).returncode == 0
    changed = _yaml_copy(tmp_path, event_pool_mutex=25)
    stale = _cli("--module", module, "--hierarchy", changed)
    assert stale.returncode == 1 and "out of date" in stale.stdout
    assert _cli("--write", "--module", module, "--hierarchy", changed).returncode == 0
    assert _cli("--module", module, "--hierarchy", changed).returncode == 0
    bad = _cli("--hierarchy", tmp_path / "nope.yaml")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def _run_tlc(workdir, cfg):
    proc = subprocess.run([tools.java(), "-XX:+UseParallelGC", "-cp", tools.tla2tools_jar(), "tlc2.TLC",
                           "-workers", "1", "-metadir", str(workdir / "meta"), "-config", cfg, "LockHierarchy.tla"],
                          cwd=workdir, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout


@pytest.mark.parametrize("levels, expected_rc", [({}, 12), ({"event_pool_mutex": 35}, 0)])
def test_tlc_takes_the_levels_from_the_yaml(tmp_path, levels, expected_rc):
    """The reverse-order path breaks the YAML's levels; swap the two levels and the same path is fine."""
    shutil.copy(SPECS / "LockHierarchy.tla", tmp_path / "LockHierarchy.tla")
    cfg = (SPECS / "LockHierarchy_reverse_order.cfg").read_text(encoding="utf-8")
    (tmp_path / "small.cfg").write_text(cfg.replace("NumThreads = 3", "NumThreads = 2"), encoding="utf-8")
    data = gen.render_tla(load_hierarchy(_yaml_copy(tmp_path, **levels)))
    (tmp_path / "LockHierarchyData.tla").write_text(data, encoding="utf-8")
    rc, out = _run_tlc(tmp_path, "small.cfg")
    assert rc == expected_rc, out[-2000:]
    assert ("Invariant RespectsLevels is violated" in out) == (expected_rc == 12)


# --- the Apalache constant initialisers agree with the cfgs TLC runs ----------------------------------

def _const_init(module: str, name: str) -> dict[str, str]:
    """The `C = value` conjuncts of operator `name` in specs/<module>.tla."""
    text = (SPECS / f"{module}.tla").read_text(encoding="utf-8")
    body = re.search(rf"^{name} ==\n((?:    /\\ .*\n)+)", text, re.M)
    assert body, f"{module}.tla has no operator {name}"
    return dict(re.findall(r"/\\ (\w+) = (.+)", body.group(1)))


def _cfg_constants(cfg: str) -> dict[str, str]:
    text = (SPECS / cfg).read_text(encoding="utf-8")
    block = text.split("CONSTANTS", 1)[1].split("SPECIFICATION", 1)[0]
    return dict(re.findall(r"^\s*(\w+) = (.+?)\s*$", block, re.M))


def _apalache_models():
    from checks.specs.manifest import load_manifest
    return [e for e in load_manifest(SPECS / "manifest.yaml") if e.apalache is not None]


@pytest.mark.parametrize("entry", _apalache_models(), ids=lambda e: e.name)
def test_cinit_fixes_the_cfg_constants(entry):
    assert _const_init(entry.module, entry.apalache.cinit) == _cfg_constants(entry.cfg)


def test_cinit_mismatch_is_caught(tmp_path):
    """The comparison above can fail: a cfg with another thread count differs from ConstInit."""
    cfg = _cfg_constants("AGXEncoderRace_method_mutex.cfg")
    assert _const_init("AGXEncoderRace", "ConstInit") == cfg
    assert _const_init("AGXEncoderRace", "ConstInitNone") != cfg
