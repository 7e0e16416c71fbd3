"""The Apalache backend, without Apalache: hand-written logs and ITF files in the documented formats, and
`run` end to end against a STAND-IN apalache-mc (tests/fixtures/apalache/fake_apalache_mc.py)."""

import json
import os
import shutil
import stat
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from checks import cli
from checks.specs import apalache
from checks.specs.manifest import ApalacheSettings as Settings

FIX = Path(__file__).resolve().parent / "fixtures" / "apalache"
LOGS, ITF, SPECS = FIX / "logs", FIX / "itf", FIX / "specs"


def make_entry(cfg="Counter.cfg", **settings):
    values = {"length": 4, "inv": ("Inv", "Bounded"), "temporal": (), "cinit": "ConstInit"} | settings
    return SimpleNamespace(name="Counter", module="Counter", spec_path=SPECS / "Counter.tla",
                           cfg_path=SPECS / cfg, apalache=Settings(**values))


def interpret(tmp_path, log, rc, itf=None, **settings):
    run_dir, out_dir = tmp_path / "run", tmp_path / "out"
    run_dir.mkdir(exist_ok=True)
    if itf:
        shutil.copy(ITF / itf, run_dir / "violation1.itf.json")
    return apalache.interpret(rc, (LOGS / log).read_text(), make_entry(**settings), run_dir, out_dir)


def test_parse_output_strips_timestamps():
    out = apalache.parse_output((LOGS / "invariant.out").read_text())
    assert out.exitcode == 12 and out.outcome == "Error" and out.checked_length is None
    assert [(v.state, v.kind, v.index, v.label) for v in out.violations] == [(2, "state", 1, "Bounded")]
    assert not any("@" in e for e in out.errors)
    ok = apalache.parse_output((LOGS / "pass.out").read_text())
    assert (ok.exitcode, ok.outcome, ok.checked_length, ok.violations, ok.errors) == (0, "NoError", 4, [], [])


# log, rc, ITF file, settings -> kind, name, a piece of the detail
CASES = [
    ("pass.out", 0, None, {}, "pass", None, "bounded: 4 steps"),
    ("too_short.out", 0, None, {}, "pass", None, "bounded: 4 steps"),
    ("invariant.out", 12, "violation1.itf.json", {}, "invariant", "Bounded", "violated after 1 steps"),
    ("invariant_unlabelled.out", 12, "violation1.itf.json", {"inv": ("Bounded",)}, "invariant", "Bounded", "Bounded"),
    ("invariant_unlabelled.out", 12, "violation1.itf.json", {}, "invariant", None, "invariant ?"),
    ("deadlock.out", 12, "deadlock.itf.json", {}, "deadlock", None, "deadlock after 1 steps"),
    ("temporal.out", 12, "lasso.itf.json", {"inv": ("Inv",), "temporal": ("Eventually",)}, "property",
     "Eventually", "temporal property Eventually"),
    ("temporal.out", 12, None, {"inv": (), "temporal": ("Eventually",)}, "property", "Eventually", "Eventually"),
    ("type_error.out", 120, None, {}, "type-error", None, "[Counter.tla:21:9-21:26]: Arguments to ="),
    ("typing_input.out", 255, None, {}, "type-error", None, "Expected a type annotation for VARIABLE chan"),
    ("parse_error.out", 255, None, {}, "parse-error", None, "Parsing error: Semantic errors:"),
    ("parse150.out", 150, None, {}, "parse-error", None, "Encountered \"==\" at line 7"),
    ("unsupported.out", 75, None, {}, "unsupported", None, "Seq(_) produces an infinite set"),
    ("cfg_error.out", 255, None, {}, "cfg-error", None, "Operator NoLiveness not found"),
    ("constant.out", 255, None, {}, "undefined-constant", None, "Variable N is not assigned a value"),
    ("crash.out", 255, None, {}, "crash", None, "IllegalStateException"),
    ("oom.out", 1, None, {}, "out-of-memory", None, "Java heap space"),
    ("mismatch.out", 0, None, {}, "inconsistent", None, "EXITCODE 12"),
    ("no_exitcode.out", 0, None, {}, "inconsistent", None, "no EXITCODE line"),
    ("pass.out", 12, None, {}, "inconsistent", None, "exit 12 but Apalache printed EXITCODE 0"),
    ("invariant.out", 0, None, {}, "inconsistent", None, "EXITCODE 12"),
]


@pytest.mark.parametrize("log, rc, itf, settings, kind, name, detail", CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[4]}" for c in CASES])
def test_interpret(tmp_path, log, rc, itf, settings, kind, name, detail):
    outcome = interpret(tmp_path, log, rc, itf, **settings)
    assert (outcome.backend, outcome.kind, outcome.name, outcome.exit_code) == ("apalache", kind, name, rc)
    assert detail in outcome.detail
    assert (outcome.bounded == 4) == (kind == "pass")
    assert "proved" not in outcome.detail


def test_pass_is_bounded_never_proved(tmp_path):
    outcome = interpret(tmp_path, "pass.out", 0)
    assert outcome.result == "pass" and outcome.detail == "bounded: 4 steps" and outcome.warnings == []


def test_pass_warnings(tmp_path):
    assert any("could not be extended" in w for w in interpret(tmp_path, "too_short.out", 0).warnings)
    assert any("reports length 4, asked for 6" in w for w in interpret(tmp_path, "pass.out", 0, length=6).warnings)


def test_counterexample_trace_and_names(tmp_path):
    outcome = interpret(tmp_path, "invariant.out", 12, "violation1.itf.json")
    assert outcome.result == "invariant: Bounded"
    assert [s.values["x"] for s in outcome.trace.states] == ["0", "1"] and outcome.depth == 1
    unnamed = interpret(tmp_path, "invariant_unlabelled.out", 12, "violation1.itf.json")
    assert unnamed.result == "invariant" and any("Inv, Bounded" in w for w in unnamed.warnings)
    lasso = interpret(tmp_path, "temporal.out", 12, "lasso.itf.json", inv=("Inv",), temporal=("Eventually",))
    assert lasso.result == "property: Eventually" and lasso.trace.loop_to == 2


def test_counterexample_without_or_with_broken_trace_warns(tmp_path):
    missing = interpret(tmp_path, "invariant.out", 12)
    assert missing.kind == "invariant" and missing.trace is None
    assert any("no counterexample file" in w for w in missing.warnings)
    (tmp_path / "b").mkdir()
    broken = interpret(tmp_path / "b", "invariant.out", 12, "bad_states.itf.json")
    assert broken.trace is None and any("could not read the counterexample" in w for w in broken.warnings)


def test_find_trace_prefers_run_dir_then_newest_out_stamp(tmp_path):
    run_dir, out_dir = tmp_path / "run", tmp_path / "out"
    old, new = out_dir / "Counter.tla" / "2026-01-01T00-00-00_1", out_dir / "Counter.tla" / "2026-11-23T18-02-20_1"
    for folder in (run_dir, old, new):
        folder.mkdir(parents=True)
    assert apalache.find_trace(run_dir, out_dir) is None
    (old / "violation1.itf.json").write_text("{}")
    (new / "violation1.itf.json").write_text("{}")
    assert apalache.find_trace(run_dir, out_dir) == new / "violation1.itf.json"
    (run_dir / "violation1.itf.json").write_text("{}")
    assert apalache.find_trace(run_dir, out_dir) == run_dir / "violation1.itf.json"


def test_command_line(tmp_path):
    entry = make_entry(temporal=("Eventually",))
    cmd = apalache.command(entry, "apalache-mc", tmp_path / "o", tmp_path / "r")
    assert cmd == ["apalache-mc", "check", "--config=Counter.cfg", "--init=Init", "--next=Next",
                   "--cinit=ConstInit", "--inv=Inv,Bounded", "--temporal=Eventually", "--length=4",
                   f"--out-dir={tmp_path / 'o'}", f"--run-dir={tmp_path / 'r'}", "Counter.tla"]
    bare = apalache.command(make_entry(inv=(), cinit=None), "a", tmp_path, tmp_path)
    assert not any(a.startswith(("--inv", "--cinit", "--temporal")) for a in bare)


def test_static_warnings(tmp_path):
    assert apalache.static_warnings(make_entry()) == []
    props = apalache.static_warnings(make_entry(cfg="Counter_props.cfg"))
    assert props == ["Apalache ignores PROPERTY in Counter_props.cfg: Eventually not checked "
                     "(list temporal properties under apalache.temporal)",
                     "Apalache ignores CONSTRAINT in Counter_props.cfg: it explores more than TLC"]
    assert len(apalache.static_warnings(make_entry(cfg="Counter_props.cfg", temporal=("Eventually",)))) == 1
    spec = tmp_path / "Counter.tla"
    spec.write_text((SPECS / "Counter.tla").read_text().replace("Init ==", "ASSUME Limit > 0\nInit =="))
    cfg = tmp_path / "Counter.cfg"
    cfg.write_text("\\* PROPERTY P only in a comment\n(* CONSTRAINT C too *)\nINIT Init\n")
    entry = SimpleNamespace(spec_path=spec, cfg_path=cfg, apalache=make_entry().apalache)
    assert apalache.static_warnings(entry) == [
        "the spec has ASSUME: Apalache exits 0 even when an ASSUME is false (TLC checks it)"]


# ---------------------------------------------------------------------------------------------------
# run() end to end, against the stand-in apalache-mc

@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Put the stand-in apalache-mc first on PATH; return a function that sets its scenario."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "apalache-mc"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FIX / "fake_apalache_mc.py"}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.delenv("APALACHE_HOME", raising=False)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    record = tmp_path / "record.json"

    def scenario(log, rc=0, itf=None, sleep=0):
        monkeypatch.setenv("FAKE_APALACHE_LOG", str(LOGS / log))
        monkeypatch.setenv("FAKE_APALACHE_RC", str(rc))
        monkeypatch.setenv("FAKE_APALACHE_RECORD", str(record))
        monkeypatch.setenv("FAKE_APALACHE_SLEEP", str(sleep))
        if itf:
            monkeypatch.setenv("FAKE_APALACHE_ITF", str(ITF / itf))
        else:
            monkeypatch.delenv("FAKE_APALACHE_ITF", raising=False)
        return record

    return scenario


def options(tmp_path, timeout=60.0):
    return SimpleNamespace(timeout=timeout, workers=1, coverage=False, artifacts=tmp_path / "artifacts", trace=True)


def test_run_pass_end_to_end(tmp_path, fake, monkeypatch):
    record = fake("pass.out")
    monkeypatch.setenv("JVM_ARGS", "-Xmx1g")
    outcome = apalache.run(make_entry(), options(tmp_path))
    assert (outcome.kind, outcome.bounded, outcome.detail, outcome.exit_code) == ("pass", 4, "bounded: 4 steps", 0)
    assert outcome.seconds > 0
    seen = json.loads(record.read_text())
    base = tmp_path / "artifacts" / "Counter" / "apalache"
    assert seen["cwd"] == str(SPECS) and seen["JVM_ARGS"] == "-Xmx1g"
    assert seen["argv"] == ["check", "--config=Counter.cfg", "--init=Init", "--next=Next", "--cinit=ConstInit",
                            "--inv=Inv,Bounded", "--length=4", f"--out-dir={base / 'out'}",
                            f"--run-dir={base / 'run'}", "Counter.tla"]
    assert (base / "out" / "Counter.tla" / "2026-11-23T18-02-20_1" / "detailed.log").is_file()
    assert "EXITCODE: OK" in (base / "apalache.log").read_text()


def test_run_counterexample_end_to_end(tmp_path, fake):
    fake("invariant.out", rc=12, itf="violation1.itf.json")
    outcome = apalache.run(make_entry(), options(tmp_path))
    assert outcome.result == "invariant: Bounded" and len(outcome.trace.states) == 2
    assert outcome.trace.states[1].values["lock"] == '[held |-> TRUE, by |-> "p2_OF_PROC"]'


def test_run_never_reads_a_stale_trace(tmp_path, fake):
    stale = tmp_path / "artifacts" / "Counter" / "apalache" / "run" / "violation1.itf.json"
    stale.parent.mkdir(parents=True)
    shutil.copy(ITF / "violation1.itf.json", stale)
    fake("invariant.out", rc=12)   # this run writes no trace
    outcome = apalache.run(make_entry(), options(tmp_path))
    assert outcome.kind == "invariant" and outcome.trace is None
    assert any("no counterexample file" in w for w in outcome.warnings)


def test_run_missing_cfg_is_cfg_error(tmp_path, fake):
    fake("pass.out")
    outcome = apalache.run(make_entry(cfg="Absent.cfg"), options(tmp_path))
    assert outcome.kind == "cfg-error" and "config file not found" in outcome.detail


def test_run_timeout_kills_it(tmp_path, fake):
    fake("pass.out", sleep=30)
    started = time.monotonic()
    outcome = apalache.run(make_entry(), options(tmp_path, timeout=1.0))
    assert outcome.kind == "timeout" and time.monotonic() - started < 15


def test_run_without_apalache_is_tool_missing_exit_3(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("APALACHE_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(cli.ToolMissing, match="install Apalache"):
        apalache.run(make_entry(), options(tmp_path))
    assert cli.run(lambda _argv: apalache.run(make_entry(), options(tmp_path)) and 0, []) == 3
    assert "APALACHE_HOME" in capsys.readouterr().err


def test_apalache_home_wins_over_path(tmp_path, fake, monkeypatch):
    home = tmp_path / "home"
    (home / "bin").mkdir(parents=True)
    shutil.copy(tmp_path / "bin" / "apalache-mc", home / "bin" / "apalache-mc")
    monkeypatch.setenv("APALACHE_HOME", str(home))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    fake("pass.out")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert apalache.run(make_entry(), options(tmp_path)).kind == "pass"
    apalache.version.cache_clear()
    assert apalache.version() == "0.0.0-stand-in"
    apalache.version.cache_clear()


def test_run_without_apalache_settings_is_usage_error(tmp_path):
    entry = make_entry()
    entry.apalache = None
    with pytest.raises(cli.UsageError, match="no apalache settings"):
        apalache.run(entry, options(tmp_path))


def test_runner_cli_with_backend_apalache(tmp_path, fake, capsys):
    """`python -m checks.specs --backend apalache` end to end: manifest -> this backend -> verdict."""
    from checks.specs.__main__ import main as specs_main

    args = ["--backend", "apalache", "--manifest", str(SPECS / "manifest.yaml"),
            "--artifacts", str(tmp_path / "art"), "--format", "json"]
    fake("invariant.out", rc=12, itf="violation1.itf.json")
    assert cli.run(specs_main, args) == 0
    report = json.loads(capsys.readouterr().out)
    text = json.dumps(report)
    assert "Counter_bounded" in text and "Counter_tlc_only" not in text
    fake("pass.out")      # Apalache finds nothing: the manifest expects a violation -> mismatch, exit 1
    assert cli.run(specs_main, args) == 1
    assert "expected invariant: Bounded, got pass" in capsys.readouterr().out
