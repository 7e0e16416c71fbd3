"""Clang's thread-safety pass: real clang++ on our fixtures, exact findings, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analyzers import clang_tsa
from checks import tools
from checks.cli import ToolMissing

FIXTURES = Path(__file__).parent / "fixtures" / "tsa" / "clang"
REPO = Path(__file__).resolve().parent.parent

WARNINGS = {
    (7, "TSA.thread-safety-analysis"),    # writing a GUARDED_BY member without the lock
    (9, "TSA.thread-safety-analysis"),    # reading it
    (11, "TSA.thread-safety-analysis"),   # calling a REQUIRES function without the lock
    (16, "TSA.thread-safety-analysis"),   # releasing a mutex that is not held
    (21, "TSA.thread-safety-analysis"),   # mutex still held at the end of the function
    (25, "TSA.thread-safety-analysis"),   # calling an EXCLUDES function while holding the lock
    (27, "TSA.thread-safety-analysis"),   # writing through a PT_GUARDED_BY pointer
    (42, "TSA.thread-safety-precise"),    # holds other.mu_, needs this->mu_
    (44, "TSA.thread-safety-reference"),  # passing a guarded member by reference
    (45, "TSA.thread-safety-attributes"), # guarded_by names an int
}


def _clang() -> str:
    try:
        return tools.clangxx()
    except ToolMissing:
        pytest.skip("clang++ is not installed")


def _analyse(*names: str, args=(), beta=False):
    units = clang_tsa.units_for_files([FIXTURES / n for n in names], list(args))
    return clang_tsa.analyse(units, _clang(), FIXTURES.resolve(), beta=beta)


def _cli(*argv: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checks.tsa", *argv], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.clang
def test_known_warnings_exactly():
    result = _analyse("warnings.cpp")
    assert {(f.line, f.rule) for f in result.findings} == WARNINGS
    assert len(result.findings) == len(WARNINGS)
    assert not result.diagnostics and all(f.severity == "warning" for f in result.findings)
    leak = next(f for f in result.findings if f.line == 21)
    assert leak.related[0].line == 19 and "acquired here" in leak.related[0].message


@pytest.mark.clang
def test_clean_fixture_has_no_findings():
    result = _analyse("clean.cpp")
    assert result.findings == [] and result.diagnostics == []


@pytest.mark.clang
def test_beta_adds_lock_order_check():
    assert _analyse("beta.cpp").findings == []
    assert [(f.line, f.rule) for f in _analyse("beta.cpp", beta=True).findings] == [
        (8, "TSA.thread-safety-analysis")]


@pytest.mark.clang
def test_werror_makes_errors():
    result = _analyse("warnings.cpp", args=["-Werror"])
    assert {(f.line, f.rule) for f in result.findings} == WARNINGS
    assert all(f.severity == "error" for f in result.findings) and not result.diagnostics


@pytest.mark.clang
def test_libcxx_annotated_std_mutex():
    clang = _clang()
    probe = subprocess.run([clang, "-stdlib=libc++", "-x", "c++", "-fsyntax-only", "-"],
                           input="#include <mutex>\n", capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("libc++ headers are not installed (apt-get install libc++-dev)")
    # without the define (and with libstdc++) std::mutex is no capability: the attribute is rejected and
    # every access is reported, the correctly locked one on line 8 included
    unannotated = {(18, "TSA.thread-safety-attributes"), (8, "TSA.thread-safety-analysis"),
                   (10, "TSA.thread-safety-analysis"), (13, "TSA.thread-safety-analysis")}
    for stdlib in (["-stdlib=libc++"], []):
        plain = _analyse("libcxx_mutex.cpp", args=stdlib)
        assert {(f.line, f.rule) for f in plain.findings} == unannotated and not plain.diagnostics
    result = _analyse("libcxx_mutex.cpp", args=["-stdlib=libc++", "-D_LIBCPP_ENABLE_THREAD_SAFETY_ANNOTATIONS"])
    assert {(f.line, f.rule) for f in result.findings} == {(10, "TSA.thread-safety-analysis"),
                                                          (14, "TSA.thread-safety-analysis")}


@pytest.mark.clang
def test_fingerprint_survives_moved_lines(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "tsa.h").write_text((FIXTURES / "tsa.h").read_text())
    source = (FIXTURES / "warnings.cpp").read_text()
    (tmp_path / "a" / "warnings.cpp").write_text(source)
    (tmp_path / "b" / "warnings.cpp").write_text("// moved\n\n\n" + source)

    def prints(folder):
        units = clang_tsa.units_for_files([folder / "warnings.cpp"], [])
        findings = clang_tsa.analyse(units, _clang(), folder.resolve()).findings
        return [f.line for f in findings], {f.fingerprint for f in findings}

    (lines_a, fp_a), (lines_b, fp_b) = prints(tmp_path / "a"), prints(tmp_path / "b")
    assert [line + 3 for line in lines_a] == lines_b
    assert fp_a == fp_b and len(fp_a) == len(WARNINGS)


def test_parse_output_separates_compile_errors():
    text = ("/src/a.cpp:3:1: error: unknown type name 'Foo'\n"
            "/src/a.cpp:9:2: warning: unused variable 'x' [-Wunused-variable]\n"
            "/src/a.cpp:12:5: error: reading variable 'n' requires holding mutex 'm' "
            "[-Werror,-Wthread-safety-analysis]\n"
            "/src/a.cpp:10:5: note: mutex acquired here\n")
    findings, errors = clang_tsa.parse_output(text, Path("/src"))
    assert [(f.line, f.rule, f.severity) for f in findings] == [(12, "TSA.thread-safety-analysis", "error")]
    assert findings[0].related[0].line == 10
    assert [(e.line, e.kind) for e in errors] == [(3, "compile")]


def test_compile_commands_flags(tmp_path):
    db = tmp_path / "compile_commands.json"
    db.write_text(json.dumps([
        {"directory": str(FIXTURES), "file": "warnings.cpp",
         "command": "/usr/bin/c++ -I. -DX=1 -std=c++17 -MD -MF dep.d -o warnings.o -c warnings.cpp"},
        {"directory": str(FIXTURES), "file": "clean.cpp", "arguments": ["c++", "-c", "clean.cpp", "-oclean.o"]},
    ]))
    units = clang_tsa.load_compile_commands(db)
    assert [u.file.name for u in units] == ["warnings.cpp", "clean.cpp"]
    assert units[0].args == ("-I.", "-DX=1", "-std=c++17") and units[1].args == ()


@pytest.mark.clang
def test_cli_compile_commands_sarif(tmp_path):
    _clang()
    db = tmp_path / "compile_commands.json"
    db.write_text(json.dumps([{"directory": str(FIXTURES), "file": f, "arguments": ["c++", "-c", f]}
                              for f in ("warnings.cpp", "clean.cpp")]))
    proc = _cli("--clang", "--compile-commands", str(db), "--root", str(FIXTURES), "--format", "sarif")
    assert proc.returncode == 1, proc.stderr
    run = json.loads(proc.stdout)["runs"][0]
    assert {(r["locations"][0]["physicalLocation"]["region"]["startLine"], r["ruleId"])
            for r in run["results"]} == WARNINGS
    assert run["properties"]["tool"]["clang"]


@pytest.mark.clang
def test_cli_clean_exit_0_and_text():
    _clang()
    proc = _cli("--clang", str(FIXTURES / "clean.cpp"))
    assert proc.returncode == 0, proc.stderr
    assert "0 findings" in proc.stdout


@pytest.mark.clang
def test_cli_text_lists_findings():
    _clang()
    proc = _cli("--clang", str(FIXTURES / "warnings.cpp"), "--root", str(FIXTURES))
    assert proc.returncode == 1
    assert ("warnings.cpp:9:23: warning: reading variable 'balance_' requires holding mutex 'mu_' "
            "[TSA.thread-safety-analysis]") in proc.stdout.splitlines()


@pytest.mark.clang
def test_cli_compile_error_exit_2(tmp_path):
    _clang()
    bad = tmp_path / "broken.cpp"
    bad.write_text("int main() { return undefined_name; }\n")
    proc = _cli("--clang", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "could not compile" in proc.stderr


def test_cli_clang_missing_exit_3():
    proc = _cli("--clang", str(FIXTURES / "clean.cpp"), env={"CLANGXX": "/nonexistent"})
    assert proc.returncode == 3
    assert proc.stderr.startswith("error: clang not found") and "apt-get install clang" in proc.stderr


def test_cli_usage_errors():
    assert _cli("--clang").returncode == 2                                  # nothing to analyse
    proc = _cli("--clang", "/nonexistent/x.cpp")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert _cli("--clang", "--compile-commands", "/nonexistent.json").returncode == 2
    assert _cli("--clang", str(FIXTURES / "clean.cpp"), "--format", "markdown").returncode == 2


@pytest.mark.clang
def test_blind_spots_blocks_and_lambdas():
    # a race inside a ^{} block goes unseen; a lambda run under the lock is reported anyway
    result = _analyse("blind_spots.cpp", args=["-fblocks"])
    assert [(f.line, f.rule) for f in result.findings] == [(11, "TSA.thread-safety-analysis")]


def test_malformed_compile_commands(tmp_path):
    bad = tmp_path / "compile_commands.json"
    bad.write_text("{not json")
    proc = _cli("--clang", "--compile-commands", str(bad))
    assert proc.returncode == 2 and "not a compile_commands.json" in proc.stderr
    bad.write_text('[{"file": "a.cpp"}]')
    proc = _cli("--clang", "--compile-commands", str(bad))
    assert proc.returncode == 2 and "entry 0 needs 'file' and 'arguments' or 'command'" in proc.stderr


@pytest.mark.clang
def test_negative_capabilities_only_when_asked():
    units = clang_tsa.units_for_files([FIXTURES / "warnings.cpp"], ["-Wthread-safety-negative"])
    result = clang_tsa.analyse(units, _clang(), FIXTURES.resolve())
    negative = {(f.line, f.rule) for f in result.findings} - WARNINGS
    assert negative == {(13, "TSA.thread-safety-negative"), (19, "TSA.thread-safety-negative"),
                        (24, "TSA.thread-safety-negative"), (41, "TSA.thread-safety-negative")}
    assert "TSA.thread-safety-negative" in {c.id for c in clang_tsa.checks_for(units)}
    assert "TSA.thread-safety-negative" not in {c.id for c in clang_tsa.checks_for(
        clang_tsa.units_for_files([FIXTURES / "warnings.cpp"], []))}
