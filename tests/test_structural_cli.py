"""checks.structural and its plumbing: catalogue, registry, suppressions, baseline, cache, CLI options."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analyzers import cache as cache_mod
from analyzers import engine
from analyzers.catalogue import SUPPRESSION_ENTRIES, load_catalogue, select
from analyzers.findings import Check
from analyzers.parse import parse_file
from analyzers.rules import RuleContext, _register, load_rules
from checks import structural
from checks.cli import UsageError, run

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "structural_cli"
FLAG_001A = ROOT / "tests" / "fixtures" / "structural" / "ST.001.a_flag.mm"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder."""
    monkeypatch.setenv("MPS_VERIFY_CACHE_DIR", str(tmp_path / "cache"))


def cli(*argv: str, cwd: Path = ROOT) -> tuple[int, str, str]:
    """checks.structural in-process (as `python -m` runs it from `cwd`, minus interpreter start-up)."""
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(structural.main, list(argv))
    finally:
        os.chdir(here)
    return code, out.getvalue(), err.getvalue()


def test_real_process_exit_codes():
    """The module entry point, in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-m", "checks.structural", str(FLAG_001A), "--rules", "ST.001"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1 and "[ST.001.a]" in proc.stdout and proc.stderr == ""
    proc = subprocess.run([sys.executable, "-m", "checks.structural", "missing.mm"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.strip() == (
        "error: no such file or directory: missing.mm")


def rules_of(report) -> list[tuple[str, int]]:
    return [(f.rule, f.line) for f in report.findings]


# ---- catalogue ----------------------------------------------------------------------------------

def test_catalogue_loads_with_builtin_suppression_checks():
    entries = load_catalogue()
    ids = [e.check.id for e in entries]
    assert ids[-2:] == ["ST.000.a", "ST.000.b"]
    assert len(ids) == len(set(ids)) and len(ids) > 10
    assert all(e.fixtures["flag"].is_file() and e.fixtures["pass"].is_file() for e in SUPPRESSION_ENTRIES)


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c[0].pop("severity"), "missing severity"),
    (lambda c: c[0].update(severity="fatal"), "severity must be one of"),
    (lambda c: c[0].update(id="ST.1"), "id must look like"),
    (lambda c: c[0].update(family="ST.099"), "does not match the id"),
    (lambda c: c.append(dict(c[0])), "defined twice"),
    (lambda c: c[0].update(fixtures={"flag": "x.mm"}), "exactly 'flag' and 'pass'"),
    (lambda c: c[0].update(colour="red"), "unknown field"),
    (lambda c: c.__setitem__(0, "ST.001.a"), "expected a mapping"),
])
def test_bad_catalogue_is_one_line_usage_error(tmp_path, mutate, message):
    import yaml
    data = yaml.safe_load((ROOT / "analyzers" / "catalogue.yaml").read_text())
    mutate(data["checks"])
    bad = tmp_path / "catalogue.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(UsageError, match=message):
        load_catalogue(bad)
    code, out, err = cli("--catalogue", str(bad), str(FLAG_001A))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err


def test_select_prefix_and_unknown():
    entries = load_catalogue()
    assert {e.family for e in select(entries, ["ST.003"])} == {"ST.003"}
    assert [e.check.id for e in select(entries, ["ST.003.e", "ST.000.b"])] == ["ST.003.e", "ST.000.b"]
    with pytest.raises(UsageError, match="ST.42"):
        select(entries, ["ST.42"])


# ---- registry and rule context ------------------------------------------------------------------

def test_registry_imports_rule_modules_and_refuses_duplicates():
    registry = load_rules()
    assert registry and all(r.kind in ("file", "project") for r in registry.values())
    family = next(iter(registry))
    def check(model, ctx):
        return []

    check.__module__ = "elsewhere"
    with pytest.raises(ValueError, match="registered twice"):
        _register(family, "file")(check)


def test_rule_context_finding_uses_catalogue_severity_and_function():
    model = parse_file(FLAG_001A, FLAG_001A.name)
    ctx = RuleContext({"ST.001.a": Check("ST.001.a", "t", "error")}, ROOT)
    f = ctx.finding("ST.001.a", model, 8, 3, "msg", anchor="a")
    assert (f.severity, f.function, f.path) == ("error", "at::native::mps::fill_scalar_mps", FLAG_001A.name)
    assert ctx.finding("ST.001.a", model, 1, 1, "m").function == ""
    with pytest.raises(ValueError, match="not in the catalogue"):
        ctx.finding("ST.999.z", model, 1, 1, "m")


# ---- suppressions -------------------------------------------------------------------------------

def analyze_one(path: Path, rules=("ST.000", "ST.001"), **kw):
    return engine.analyze([path], path.parent, rules=list(rules), jobs=1, **kw)


def test_suppression_without_reason_is_st000a_and_suppresses_nothing():
    report = analyze_one(FIX / "ST.000.a_flag.mm")
    assert rules_of(report) == [("ST.000.a", 6), ("ST.001.a", 7)]


def test_suppression_with_reason_on_line_before():
    assert analyze_one(FIX / "ST.000.a_pass.mm").findings == []


def test_unused_suppression_is_st000b():
    report = analyze_one(FIX / "ST.000.b_flag.mm")
    assert rules_of(report) == [("ST.000.b", 7)]
    assert report.findings[0].severity == "warning"


def test_family_prefix_suppression_on_same_line_is_used():
    assert analyze_one(FIX / "ST.000.b_pass.mm").findings == []


def test_suppression_for_checks_that_did_not_run_is_not_unused():
    assert analyze_one(FIX / "ST.000.b_flag.mm", rules=("ST.000", "ST.003")).findings == []


# ---- baseline -----------------------------------------------------------------------------------

def test_baseline_round_trip_survives_moved_code(tmp_path):
    src = tmp_path / "code.mm"
    shutil.copy(FLAG_001A, src)
    base = tmp_path / "baseline.json"
    code, out, _ = cli(str(src), "--rules", "ST.001", "--write-baseline", str(base))
    assert code == 1 and "ST.001.a" in out
    data = json.loads(base.read_text())
    assert data["version"] == 1 and data["tool"]["name"] == "mps-verify"
    assert [r["rule"] for r in data["fingerprints"]] == ["ST.001.a"]
    src.write_text("// a new comment moves everything down\n\n" + src.read_text())
    code, out, _ = cli(str(src), "--rules", "ST.001", "--baseline", str(base), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["findings"] == [] and doc["baseline"]["suppressed"] == 1


@pytest.mark.parametrize("content", ["{not json", '{"version": 99, "fingerprints": []}', '{"version": 1}',
                                     '{"version": 1, "fingerprints": [{"rule": "x"}]}'])
def test_bad_baseline_is_usage_error(tmp_path, content):
    base = tmp_path / "b.json"
    base.write_text(content)
    code, out, err = cli(str(FLAG_001A), "--baseline", str(base))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "baseline" in err


# ---- cache --------------------------------------------------------------------------------------

def test_cache_skips_parsing_unchanged_files_and_reparses_changed(tmp_path, monkeypatch):
    src = tmp_path / "code.mm"
    shutil.copy(FLAG_001A, src)
    first = analyze_one(src)
    assert list((tmp_path / "cache" / "structural").rglob("*.pickle"))

    def boom(*_a, **_k):
        raise AssertionError("parsed although cached")

    monkeypatch.setattr(engine, "parse_file", boom)
    assert analyze_one(src).findings == first.findings
    assert engine.load_models([src], tmp_path)[0].path == "code.mm"     # the parse cache alone
    src.write_text(src.read_text() + "\n// changed\n")
    # a parse failure is contained to its file (an `internal` diagnostic): here it proves the file was parsed
    failed = engine.incomplete(analyze_one(src).diagnostics)
    assert failed and "parsed although cached" in failed[0].message


def test_no_cache_writes_nothing(tmp_path):
    analyze_one(FLAG_001A, cache=False)
    assert not (tmp_path / "cache" / "structural").exists()


def test_corrupt_cache_entry_is_a_miss(tmp_path):
    src = tmp_path / "code.mm"
    shutil.copy(FLAG_001A, src)
    analyze_one(src)
    for entry in (tmp_path / "cache" / "structural").rglob("*.pickle"):
        entry.write_bytes(b"garbage")
    assert rules_of(analyze_one(src)) == [("ST.001.a", 8)]


def test_cache_key_depends_on_content_path_and_parser():
    assert cache_mod.key(b"a", "x.mm") != cache_mod.key(b"b", "x.mm")
    assert cache_mod.key(b"a", "x.mm") != cache_mod.key(b"a", "y.mm")
    assert len(cache_mod.parser_version()) == 16


# ---- the command line ---------------------------------------------------------------------------

def test_exit_codes_and_text_format():
    code, out, err = cli(str(FLAG_001A), "--rules", "ST.001")
    assert code == 1 and err == ""
    assert out.splitlines()[0].startswith("ST.001.a_flag.mm:8:")
    assert out.splitlines()[-1].endswith("failed, 0 warnings")
    code, out, _ = cli(str(FIX / "ST.000.a_pass.mm"), "--rules", "ST.001")
    assert code == 0 and "0 failed" in out


def test_warnings_only_exit_zero():
    code, out, _ = cli(str(FIX / "ST.000.b_flag.mm"), "--rules", "ST.000,ST.001")
    assert code == 0 and "[ST.000.b]" in out


@pytest.mark.parametrize("argv, message", [
    (["missing.mm"], "no such file or directory: missing.mm"),
    ([], "nothing to analyse"),
    (["--jobs", "0", "tests"], "--jobs must be at least 1"),
    (["--rules", "XX", "tests/fixtures/parse"], "no check matches 'XX'"),
    (["--format", "xml", "tests"], "invalid choice"),
    (["tests/fixtures/parse/../../test_parse.py"], "not a C++/ObjC++ source"),
    (["--root", "nowhere", "tests/fixtures/parse"], "not a directory"),
    (["--torch-headers", "tests"], "not both"),
])
def test_usage_errors_are_one_line_exit_2(argv, message):
    code, out, err = cli(*argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize("fmt", ["json", "sarif", "github"])
def test_machine_formats(tmp_path, fmt):
    out_file = tmp_path / f"report.{fmt}"
    code, out, _ = cli(str(FLAG_001A), "--rules", "ST.001", "--format", fmt, "--output", str(out_file))
    assert code == 1 and out == ""
    text = out_file.read_text()
    if fmt == "json":
        doc = json.loads(text)
        assert doc["tool"]["name"] == "mps-verify" and doc["summary"]["failed"] >= 1
        assert doc["findings"][0]["rule"] == "ST.001.a" and doc["findings"][0]["path"] == "ST.001.a_flag.mm"
    elif fmt == "sarif":
        assert json.loads(text)["runs"][0]["results"][0]["ruleId"] == "ST.001.a"
    else:
        assert text.startswith("::error file=ST.001.a_flag.mm,line=8,")


def test_directory_exclude_root_and_diagnostics(tmp_path):
    code, out, _ = cli("tests/fixtures/parse", "--root", ".", "--rules", "ST.000", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["summary"]["files"] == len(list((ROOT / "tests" / "fixtures" / "parse").iterdir()))
    paths = {d["path"] for d in doc["diagnostics"]}
    assert paths == {"tests/fixtures/parse/unbalanced.cpp", "tests/fixtures/parse/nonutf8.cpp"}
    code, out, _ = cli("tests/fixtures/parse", "--exclude", "*.cpp", "--exclude", "members.h",
                       "--rules", "ST.000", "--format", "json")
    doc = json.loads(out)
    assert doc["summary"]["files"] == 1 and doc["diagnostics"] == []


def test_settings_from_config(tmp_path):
    (tmp_path / ".git").mkdir()
    shutil.copy(FLAG_001A, tmp_path / "a.mm")
    shutil.copy(FIX / "ST.000.b_flag.mm", tmp_path / "b.mm")
    (tmp_path / "mps-verify.yaml").write_text("structural:\n  exclude: [a.mm]\n  rules: [ST.000, ST.001]\n")
    code, out, _ = cli(str(tmp_path), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["summary"]["files"] == 1 and doc["summary"]["checks"] == 5
    (tmp_path / "mps-verify.yaml").write_text("structural:\n  exclude: 7\n")
    code, _, err = cli(str(tmp_path))
    assert code == 2 and "structural.exclude" in err


def test_torch_headers_run():
    code, out, err = cli("--torch-headers", "--rules", "ST.000")
    if code == 2 and "torch" in err:
        pytest.skip(err)
    assert code == 0 and out.strip().endswith("0 failed, 0 warnings")


def test_main_in_process_returns_exit_code(capsys):
    assert run(structural.main, [str(FIX / "ST.000.a_pass.mm"), "--rules", "ST.001", "--jobs", "1"]) == 0
    assert "passed" in capsys.readouterr().out


@pytest.mark.corpus
def test_parallel_parse_equals_serial():
    from checks.sources import CORPUS_DIR, corpus_mps_dirs
    try:
        dirs = corpus_mps_dirs()
    except UsageError:
        pytest.skip("corpus missing")
    serial = engine.load_models(dirs, CORPUS_DIR, jobs=1, cache=False)
    parallel = engine.load_models(dirs, CORPUS_DIR, jobs=2, cache=False)
    assert [m.path for m in serial] == [m.path for m in parallel]
    assert [len(list(m.scopes())) for m in serial] == [len(list(m.scopes())) for m in parallel]
    assert [len(list(m.calls())) for m in serial] == [len(list(m.calls())) for m in parallel]
    one, two = (engine._LAST_FILES.clear() or engine.analyze(dirs, CORPUS_DIR, jobs=jobs, cache=False)
                for jobs in (1, 2))   # nothing reused from the run before: both compute every file
    assert one.findings and one.findings == two.findings     # rules spread over processes: same findings
    assert one.diagnostics == two.diagnostics and one.files == two.files


def test_suppression_comment_forms(tmp_path):
    from analyzers.suppress import suppressions
    src = tmp_path / "s.mm"
    src.write_text("// mps-verify: ignore[ST.001.a, ST.003] two ids: a reason\n"
                   "/* mps-verify: ignore[ST.002] block form */\n"
                   "// mps-verify: ignore[] nothing named\n"
                   "/* mps-verify:ignore[ST.004]*/\n"
                   "// mentions mps-verify without a marker\n")
    marks = suppressions(parse_file(src, "s.mm"))
    assert [(s.line, s.ids, s.reason) for s in marks] == [
        (1, ("ST.001.a", "ST.003"), "two ids: a reason"), (2, ("ST.002",), "block form"),
        (3, (), "nothing named"), (4, ("ST.004",), "")]
    report = engine.analyze([src], tmp_path, rules=["ST.000"], jobs=1)
    assert [(f.rule, f.line) for f in report.findings] == [("ST.000.a", 3), ("ST.000.a", 4)]
    assert "no rule id" in report.findings[0].message and "no reason" in report.findings[1].message


def test_write_baseline_with_baseline_keeps_old_entries(tmp_path):
    src = tmp_path / "code.mm"
    shutil.copy(FLAG_001A, src)
    base = tmp_path / "baseline.json"
    assert cli(str(src), "--rules", "ST.001", "--write-baseline", str(base))[0] == 1
    code, _, _ = cli(str(src), "--rules", "ST.001", "--baseline", str(base), "--write-baseline", str(base))
    assert code == 0
    assert [r["rule"] for r in json.loads(base.read_text())["fingerprints"]] == ["ST.001.a"]
    report = engine.analyze([src], tmp_path, rules=["ST.001"], baseline=base, jobs=1)
    assert report.findings == [] and report.extra["baseline"]["suppressed"] == 1


def test_run_cache_key_covers_checks_settings_and_files():
    entries = load_catalogue()
    base = engine._run_key(["k1"], entries, {})
    assert base == engine._run_key(["k1"], entries, {})
    assert base != engine._run_key(["k2"], entries, {})
    assert base != engine._run_key(["k1"], select(entries, ["ST.001"]), {})
    assert base != engine._run_key(["k1"], entries, {"exclude": ["x"]})
    changed = [type(e)(Check(e.check.id, e.check.title, "info"), e.family, e.fixtures) for e in entries]
    assert base != engine._run_key(["k1"], changed, {})
