"""One bad file never aborts a scan; special, huge and linked-out files are not read (issue #15, part 2)."""

import json
import os
import threading
from pathlib import Path

import pytest

from analyzers import engine
from analyzers.rules import REGISTRY, Rule, load_rules
from checks import cli, lockgraph, structural, tsa as tsa_cli
from tests.hostile.conftest import run

CRASHES = {"objc_unclosed.mm": "[h r:[{}",
           "synchronized_empty.mm": "void f() { @synchronized() { @synchronized() { g(); } } }\n"
                                    "void g() { @synchronized() {} }\n"}


@pytest.mark.parametrize("name", sorted(CRASHES))
def test_the_two_known_crashes_are_fixed(tmp_path, name):
    (tmp_path / name).write_text(CRASHES[name])
    proc = run("checks.structural", str(tmp_path / name), "--no-cache", "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    assert not [d for d in doc["diagnostics"] if d["kind"] == "internal"]


@pytest.fixture
def failing_rule(monkeypatch):
    """ST.004's file rule raises on files named bad.mm (an injected failure)."""
    rules = load_rules()
    original = rules["ST.004"]

    def check(model, ctx):
        if model.path.endswith("bad.mm"):
            raise RuntimeError("injected failure")
        return original.check(model, ctx)

    monkeypatch.setitem(REGISTRY, "ST.004", Rule("ST.004", "file", check, original.module))
    load_rules.cache_clear()
    engine._LAST_FILES.clear()      # results of earlier runs were computed by the real rule
    yield
    load_rules.cache_clear()
    engine._LAST_FILES.clear()


def _two_files(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    hazard = (Path(__file__).parents[1] / "fixtures" / "structural" / "ST.001.a_flag.mm").read_text()
    (src / "bad.mm").write_text(hazard)
    (src / "good.mm").write_text(hazard)
    return src


def test_a_failing_rule_becomes_a_diagnostic_and_the_scan_goes_on(tmp_path, failing_rule):
    src = _two_files(tmp_path)
    report = engine.analyze([src], src, cache=False, jobs=1)
    internal = engine.incomplete(report.diagnostics)
    assert [d.path for d in internal] == ["bad.mm"] and "injected failure" in internal[0].message
    assert {f.path for f in report.findings if f.rule.startswith("ST.001")} == {"bad.mm", "good.mm"}


def test_an_incomplete_scan_does_not_exit_clean(tmp_path, failing_rule, capsys):
    src = _two_files(tmp_path)
    (src / "good.mm").write_text("void f() {}\n")
    (src / "bad.mm").write_text("void g() {}\n")
    code = cli.run(structural.main, [str(src), "--no-cache", "--jobs", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "findings are incomplete" in err and "bad.mm" in err


def test_a_failing_parse_becomes_a_diagnostic(tmp_path, monkeypatch):
    from analyzers import parse

    real = parse.parse_file

    def parse_file(path, rel, data=None):
        if rel.endswith("bad.mm"):
            raise MemoryError("injected")
        return real(path, rel, data)

    monkeypatch.setattr(parse, "parse_file", parse_file)
    src = _two_files(tmp_path)
    report = engine.analyze([src], src, cache=False, jobs=1)
    assert [d.path for d in engine.incomplete(report.diagnostics)] == ["bad.mm"]
    assert any(f.path == "good.mm" for f in report.findings)


def test_debug_prints_the_traceback(tmp_path, failing_rule, capsys, monkeypatch):
    monkeypatch.setenv(engine.DEBUG_ENV, "1")
    src = _two_files(tmp_path)
    engine.analyze([src], src, cache=False, jobs=1)
    assert "Traceback" in capsys.readouterr().err


def test_a_fifo_is_skipped_not_read(tmp_path):
    src = _two_files(tmp_path)
    os.mkfifo(src / "pipe.mm")
    proc = run("checks.structural", str(src), "--no-cache", "--format", "json", timeout=120)
    assert proc.returncode == 1, proc.stderr            # the hazard in the real files
    doc = json.loads(proc.stdout)
    assert any(d["path"] == "pipe.mm" and "not a regular file" in d["message"] for d in doc["diagnostics"])


def test_a_file_over_the_limit_is_skipped_with_a_note(tmp_path):
    src = _two_files(tmp_path)
    (src / "huge.mm").write_text("int x;\n" * 1000)
    proc = run("checks.structural", str(src), "--no-cache", "--format", "json", "--max-file-bytes", "5000")
    doc = json.loads(proc.stdout)
    assert any(d["path"] == "huge.mm" and "over the 5000-byte limit" in d["message"] for d in doc["diagnostics"])


def test_a_symlink_out_of_the_tree_is_not_followed_unless_asked(tmp_path):
    outside = tmp_path / "outside.mm"
    outside.write_text((Path(__file__).parents[1] / "fixtures" / "structural" / "ST.001.a_flag.mm").read_text())
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.mm").write_text("void f() {}\n")
    os.symlink(outside, src / "link.mm")
    proc = run("checks.structural", str(src), "--no-cache", "--format", "json")
    assert proc.returncode == 0, proc.stdout
    assert any("outside the scanned tree" in d["message"] for d in json.loads(proc.stdout)["diagnostics"])
    proc = run("checks.structural", str(src), "--no-cache", "--format", "json", "--follow-symlinks")
    assert proc.returncode == 1 and any(f["path"] == "link.mm" for f in json.loads(proc.stdout)["findings"])


@pytest.mark.parametrize("main, extra", [(structural.main, []), (lockgraph.main, []), (tsa_cli.main, [])])
def test_zero_files_is_nothing_analysed(tmp_path, capsys, main, extra):
    (tmp_path / "notes.txt").write_text("x\n")
    code = cli.run(main, [str(tmp_path), *extra])
    assert code == 2 and "nothing analysed" in capsys.readouterr().err


def test_everything_excluded_is_nothing_analysed(tmp_path, capsys):
    src = _two_files(tmp_path)
    assert cli.run(structural.main, [str(src), "--exclude", "*", "--no-cache"]) == 2
    assert "nothing analysed" in capsys.readouterr().err


def _fifo_with_writer_guard(path: Path) -> threading.Timer:
    """A FIFO; if something opens it for reading, a writer unblocks it after a while (so a bug fails, not hangs)."""
    os.mkfifo(path)

    def unblock():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass
    timer = threading.Timer(20, unblock)
    timer.start()
    return timer


@pytest.mark.parametrize("option", ["--baseline", "--config"])
def test_config_like_paths_refuse_fifos(tmp_path, capsys, option):
    src = _two_files(tmp_path)
    timer = _fifo_with_writer_guard(tmp_path / "fifo.json")
    try:
        code = cli.run(structural.main, [str(src), option, str(tmp_path / "fifo.json"), "--no-cache"])
    finally:
        timer.cancel()
    err = capsys.readouterr().err
    assert code == 2 and "not a regular file" in err and err.count("\n") == 1


def test_hierarchy_and_min_counts_refuse_fifos(tmp_path, capsys):
    src = _two_files(tmp_path)
    timer = _fifo_with_writer_guard(tmp_path / "h.yaml")
    try:
        assert cli.run(lockgraph.main, [str(src), "--hierarchy", str(tmp_path / "h.yaml")]) == 2
        assert "not a regular file" in capsys.readouterr().err
        assert cli.run(tsa_cli.main, [str(src), "--min-counts", str(tmp_path / "h.yaml")]) == 2
        assert "not a regular file" in capsys.readouterr().err
    finally:
        timer.cancel()


def test_an_oversized_baseline_is_refused(tmp_path, capsys, monkeypatch):
    from mpsverify_base import config

    monkeypatch.setattr(config, "MAX_INPUT_BYTES", 100)
    src = _two_files(tmp_path)
    big = tmp_path / "baseline.json"
    big.write_text(json.dumps({"version": 1, "fingerprints": ["x" * 200]}))
    assert cli.run(structural.main, [str(src), "--baseline", str(big), "--no-cache"]) == 2
    assert "over the" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_a_file_name_that_is_not_utf8_is_reported(tmp_path, fmt):
    src = _two_files(tmp_path)
    (src / "bad.mm").rename(src / os.fsdecode(b"b\xffd.mm"))
    proc = run("checks.structural", str(src), "--no-cache", "--format", fmt)
    assert proc.returncode == 1, proc.stderr
    assert "b\\xffd.mm" in proc.stdout.replace("\\\\", "\\")     # JSON doubles the backslash
