"""`python -m checks.specs` end to end with the real TLC: verdicts, mismatches, bad input, missing Java."""

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from checks.specs.manifest import load_manifest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "specs"
REAL = ROOT / "specs" / "manifest.yaml"


def specs(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checks.specs", "--jobs", "2", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    """Every expectable verdict once (the fixture manifest), as JSON."""
    art = tmp_path_factory.mktemp("art")
    proc = specs("--manifest", str(FIXTURES / "manifest.yaml"), "--tier", "all", "--format", "json",
                 "--artifacts", str(art))
    return proc, art


def test_every_expectable_verdict_matches(fixture_run):
    proc, _ = fixture_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    got = {m["entry"]["name"]: m["outcome"]["result"] for m in data["models"]}
    assert got == {"Counter_pass": "pass", "Counter_inv": "invariant: Bounded", "Deadlock": "deadlock",
                   "Cycle_loop": "property: SettlesAtTwo", "Cycle_stutter": "property: ReachesTwo",
                   "Cycle_action": "property: GoesUp", "Assumes": "assumption"}
    assert all(m["match"] for m in data["models"])
    assert data["tool"]["tlc"].startswith("TLC2 Version") and data["tool"]["java"]
    assert data["summary"] == {"models": 7, "matched": 7, "mismatched": 0}
    passed = next(m for m in data["models"] if m["entry"]["name"] == "Counter_pass")
    assert (passed["outcome"]["distinct"], passed["outcome"]["total"]) == (16, 26)


def test_artifacts_per_model(fixture_run):
    _, art = fixture_run
    out = (art / "Counter_pass" / "tlc.out").read_text()
    assert "@!@!@STARTMSG 2193:0" in out
    # the standard modules are copied into this run's own temp folder, not a /tmp shared with other JVMs
    naturals = re.search(r"Parsing file (\S*Naturals\.tla)", out)
    assert naturals and "/tlc-meta-" in naturals.group(1) and "/jvm-tmp/" in naturals.group(1)
    summary = json.loads((art / "Counter_inv" / "summary.json").read_text())
    assert summary["match"] and summary["outcome"]["trace"]["states"][1]["action"] == "IncX"


def test_wrong_expectations_mismatch_exit_1(tmp_path):
    proc = specs("--manifest", str(FIXTURES / "wrong.yaml"), "--artifacts", str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "MISMATCH Counter_pass: expected pass with 17 distinct / 26 total states, got 16 distinct" in out
    assert "MISMATCH Deadlock: expected pass, got deadlock (Deadlock reached.)" in out
    assert "MISMATCH Counter_inv" not in out
    # the mismatch's counterexample: the action and only the variables it changed
    assert "counterexample of Deadlock (deadlock):" in out and "counterexample of Counter_inv" not in out
    after = out.split("counterexample of Deadlock")[1]
    assert "Acquire" in after and 'holder = [a |-> "t1", b |-> "none"]' in after


def test_trace_option_shows_expected_counterexamples(tmp_path):
    proc = specs("--manifest", str(FIXTURES / "manifest.yaml"), "--only", "Counter_inv", "--trace",
                 "--artifacts", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    block = proc.stdout.split("counterexample of Counter_inv (invariant: Bounded):")[1].splitlines()
    states = [line.strip() for line in block if line.strip()][:7]
    # state 1 lists every variable, later states only what changed (y never changes)
    assert states[:3] == ["1  initial state", "x = 0", "y = 0"]
    assert states[3].startswith("2  IncX") and states[4] == "x = 1" and states[5].startswith("3  IncX")


def test_junit_report(tmp_path):
    proc = specs("--manifest", str(FIXTURES / "wrong.yaml"), "--only", "Deadlock", "Counter_inv",
                 "--format", "junit", "--artifacts", str(tmp_path))
    assert proc.returncode == 1
    suite = ET.fromstring(proc.stdout).find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["Deadlock"]


def test_failures_of_the_run_have_their_own_kinds(tmp_path):
    proc = specs("--manifest", str(FIXTURES / "failures.yaml"), "--format", "json", "--artifacts", str(tmp_path))
    assert proc.returncode == 1
    kinds = {m["entry"]["name"]: m["outcome"]["kind"] for m in json.loads(proc.stdout)["models"]}
    assert kinds == {"Broken": "parse-error", "Undeclared": "parse-error", "Counter_undef": "undefined-constant",
                     "EvalInv": "eval-error",
                     "Counter_badkw": "cfg-error", "Asserting": "eval-error", "Evaluates": "eval-error"}


def test_timeout_kills_and_reports_states_so_far(tmp_path):
    proc = specs("--manifest", str(FIXTURES / "failures.yaml"), "--only", "Big", "--timeout", "5",
                 "--format", "json", "--artifacts", str(tmp_path), timeout=60)
    assert proc.returncode == 1
    outcome = json.loads(proc.stdout)["models"][0]["outcome"]
    assert outcome["kind"] == "timeout" and outcome["distinct"] and outcome["seconds"] < 15


def test_coverage_warns_about_a_dead_action(tmp_path):
    proc = specs("--manifest", str(FIXTURES / "manifest.yaml"), "--only", "Counter_pass", "--coverage",
                 "--artifacts", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "warning Counter_pass: action Overflow was never taken (dead action)" in proc.stdout
    assert "IncX was never taken" not in proc.stdout


@pytest.mark.parametrize("args,needle", [
    (["--manifest", "/nonexistent/manifest.yaml"], "cannot read manifest"),
    (["--manifest", str(FIXTURES / "manifest.yaml"), "--only", "Ghost"], "no model named Ghost"),
    (["--manifest", str(FIXTURES / "manifest.yaml"), "--timeout", "-3"], "must be positive"),
    (["--tier", "medium"], "invalid choice"),
    (["--manifest", str(FIXTURES / "Counter_pass.cfg")], "a manifest is a mapping"),
])
def test_bad_input_is_one_line_exit_2(args, needle):
    proc = specs(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]


def test_bad_manifest_exit_2(tmp_path):
    bad = tmp_path / "manifest.yaml"
    bad.write_text("models:\n  - {name: X, module: Counter, cfg: Counter_pass.cfg, tier: fast, expect: pass, "
                   "shows: x}\n")
    (tmp_path / "Counter.tla").write_text((FIXTURES / "Counter.tla").read_text())
    (tmp_path / "Counter_pass.cfg").write_text((FIXTURES / "Counter_pass.cfg").read_text())
    proc = specs("--manifest", str(bad))
    assert proc.returncode == 2 and "model X: a passing model needs exact distinct and total" in proc.stderr


def test_java_missing_is_exit_3(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PATH")}
    env.update(JAVA_HOME=str(tmp_path / "no-java"), PATH=str(tmp_path))
    proc = specs("--manifest", str(FIXTURES / "manifest.yaml"), "--only", "Counter_pass",
                 "--artifacts", str(tmp_path / "art"), env=env)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "java not found" in lines[0] and "install" in lines[0]


def test_project_fast_tier_matches_the_manifest(tmp_path):
    """Every fast model of specs/manifest.yaml, once, through the runner."""
    if not REAL.exists():
        pytest.skip("specs/manifest.yaml not written yet")
    fast = [e.name for e in load_manifest(REAL) if e.tier == "fast"]
    proc = specs("--tier", "fast", "--format", "json", "--artifacts", str(tmp_path))
    data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    mismatches = [f"{m['entry']['name']}: {m['mismatch']}" for m in data.get("models", []) if not m["match"]]
    assert proc.returncode == 0 and not mismatches, mismatches or proc.stderr
    assert sorted(m["entry"]["name"] for m in data["models"]) == sorted(fast)


def test_bench_measures_runner_and_bare_tlc(tmp_path):
    out = tmp_path / "specs.json"
    proc = subprocess.run([sys.executable, "-m", "checks.bench_specs", "--manifest", str(FIXTURES / "manifest.yaml"),
                           "--tier", "slow", "--reps", "1", "--jobs", "2", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads(out.read_text())
    assert data["models"] == 2 and data["all_matched"] is True
    assert len(data["runner_s"]) == len(data["direct_s"]) == 1 and data["direct_median_s"] > 0
    assert data["tool"]["tlc"] and "overhead" in proc.stdout
