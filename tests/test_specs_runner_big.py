"""Models bigger than one run: --workers, --simulate, --distributed (TLC's own server/workers on loopback),
--checkpoint/--recover; each against the real TLC and compared with a plain single-process run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "specs"
MANIFEST = str(FIXTURES / "manifest.yaml")
THREE = ("Counter_pass", "Counter_inv", "Deadlock")


def specs(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checks.specs", "--jobs", "2", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def models(proc: subprocess.CompletedProcess) -> dict[str, dict]:
    return {m["entry"]["name"]: m for m in json.loads(proc.stdout)["models"]}


def test_workers_keep_the_exact_counts(tmp_path):
    proc = specs("--manifest", MANIFEST, "--only", "Counter_pass", "Counter_inv", "--workers", "2",
                 "--format", "json", "--artifacts", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    passed = models(proc)["Counter_pass"]["outcome"]
    assert (passed["distinct"], passed["total"]) == (16, 26)
    assert "-workers 2" in " ".join((tmp_path / "Counter_pass" / "tlc.out").read_text().splitlines()[:3]) or \
        "with 2 workers" in (tmp_path / "Counter_pass" / "tlc.out").read_text()


def test_simulation_finds_the_violation_with_its_trace(tmp_path):
    proc = specs("--manifest", MANIFEST, "--only", "Counter_inv", "--simulate", "200", "--depth", "30",
                 "--seed", "1", "--format", "json", "--artifacts", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    result = models(proc)["Counter_inv"]
    assert result["outcome"]["result"] == "invariant: Bounded" and result["outcome"]["trace"]["states"]
    assert "Running Random Simulation with seed 1" in (tmp_path / "Counter_inv" / "tlc.out").read_text()


def test_simulation_without_violation_has_its_own_verdict(tmp_path):
    proc = specs("--manifest", MANIFEST, "--only", "Counter_pass", "--simulate", "200", "--depth", "30",
                 "--artifacts", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = next(line for line in proc.stdout.splitlines() if "│ Counter_pass" in line)
    assert "simulation: 200 behaviours up to depth 30" in proc.stdout.splitlines()[0]
    assert "no violation (simulation)" in row and "no violation in 200 behaviours up to depth 30" in row
    assert "│ pass" not in row


def test_simulation_of_a_model_with_wrong_expectation_mismatches(tmp_path):
    proc = specs("--manifest", str(FIXTURES / "wrong.yaml"), "--only", "Deadlock", "--simulate", "50",
                 "--depth", "20", "--artifacts", str(tmp_path))
    assert proc.returncode == 1 and "MISMATCH Deadlock: expected no violation (simulation), got deadlock" in proc.stdout


def _verdicts(proc):
    return {name: (m["outcome"]["result"], m["outcome"]["distinct"], m["match"]) for name, m in models(proc).items()}


def test_distributed_on_loopback_agrees_with_one_process(tmp_path):
    """TLCServer + 2 TLCWorkers: same distinct states and the same violations as a single-process run."""
    single = specs("--manifest", MANIFEST, "--only", *THREE, "--format", "json", "--artifacts", str(tmp_path / "one"))
    spread = specs("--manifest", MANIFEST, "--only", *THREE, "--distributed", "2", "--format", "json",
                   "--artifacts", str(tmp_path / "dist"), timeout=600)
    assert single.returncode == 0 and spread.returncode == 0, spread.stdout[-3000:] + spread.stderr
    one, many = _verdicts(single), _verdicts(spread)
    assert one["Counter_pass"] == many["Counter_pass"] == ("pass", 16, True)
    assert {k: v[0] for k, v in one.items()} == {k: v[0] for k, v in many.items()}
    server = (tmp_path / "dist" / "Counter_pass" / "tlc.out").read_text()
    assert "TLC Server" in server and "STARTMSG 7001:" in server          # a worker registered
    workers = (tmp_path / "dist" / "Counter_pass" / "workers.out").read_text()
    # two workers started; on 16 states the first may finish before the second registers
    assert workers.count("TLC Worker Version") == 2 and "work completed" in workers
    for name in ("Counter_inv", "Deadlock"):
        warnings = " ".join(models(spread)[name]["outcome"]["warnings"])
        assert "single-process re-run" in warnings, warnings


@pytest.mark.parametrize("args,needle", [
    (("--distributed", "2", "--simulate", "10"), "--distributed runs exhaustive search only"),
    (("--depth", "10",), "--depth and --seed belong to --simulate N"),
    (("--simulate", "5", "--checkpoint", "1"), "--simulate keeps no checkpoints"),
    (("--backend", "apalache", "--workers", "2"), "need --backend tlc"),
])
def test_mode_combinations_that_make_no_sense_are_exit_2(args, needle):
    proc = specs("--manifest", MANIFEST, *args)
    assert proc.returncode == 2 and needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_checkpoint_then_recover_resumes(tmp_path):
    """TLC checkpoints once a minute at the earliest: run Big past one checkpoint, kill it, resume it."""
    art = str(tmp_path / "art")
    first = specs("--manifest", str(FIXTURES / "failures.yaml"), "--only", "Big", "--checkpoint", "1",
                  "--timeout", "75", "--format", "json", "--artifacts", art)
    assert models(first)["Big"]["outcome"]["kind"] == "timeout"
    assert list((tmp_path / "art" / "Big" / "states").glob("*/*.chkpt"))
    second = specs("--manifest", str(FIXTURES / "failures.yaml"), "--only", "Big", "--recover",
                   "--timeout", "20", "--format", "json", "--artifacts", art)
    outcome = models(second)["Big"]["outcome"]
    assert any("resumed from the checkpoint" in w for w in outcome["warnings"])
    assert "Starting recovery from checkpoint" in (tmp_path / "art" / "Big" / "tlc.out").read_text()


def test_recover_without_checkpoint_is_a_usage_error(tmp_path):
    proc = specs("--manifest", MANIFEST, "--only", "Counter_pass", "--recover", "--artifacts", str(tmp_path))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "no checkpoint of model Counter_pass" in lines[0]
