"""`python -m runtime_tests`: bad input exits 2 with one line; a small real run records rounds,
measurements and cross-checks, writes the report, and exits 1 because one configuration is broken."""

import json
import sqlite3
import subprocess
import sys

import pytest

from runtime_tests.rounds import REPO_ROOT

pytestmark = pytest.mark.quick

TINY = """
configurations:
  - name: broken
    description: returns a wrong result on purpose
    model: BatchQueue
    batched: {max_batch: 4, max_delay_ms: 1}
    fault: wrong
  - name: fix
    model: AGXEncoderRace_method_mutex
    preload: ${MPS_VERIFY_TEST_UNSET}
plans:
  quick:
    size: quick
    rounds: 1
    threads: 2
    iterations: 4
    workloads: [linear]
    timeout_s: 60
    soak_s: 0.5
    perf:
      workloads: [linear]
      threads: [1, 2]
      reps: 5
      seconds: 0.02
      batches: [1, 4]
      batch_workloads: [linear]
      batcher_workloads: [linear]
      batcher_widths: {linear: [16]}
      clients: 2
      max_delay_ms: 1
"""
MANIFEST = """
models:
  - {name: AGXEncoderRace_global_lock, module: AGXEncoderRace, expect: pass}
  - {name: BatchQueue, module: BatchQueue, expect: pass}
"""


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "runtime_tests", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.mark.parametrize("args, message", [
    ((), "usage: python -m runtime_tests"),
    (("bogus",), "usage: python -m runtime_tests"),
    (("run", "--device", "tpu"), "invalid choice"),
    (("run", "--soak", "soon"), "bad duration"),
    (("run", "--rounds", "0"), "positive integer"),
    (("run", "--only", "nope", "--device", "cpu"), "unknown configuration nope"),
    (("report", "--db", "/nonexistent/results.db"), "no results database"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    from checks.cli import run
    from runtime_tests.__main__ import main

    assert run(main, list(args)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_module_runs_as_a_program():
    proc = cli("report", "--run", "x")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_a_small_run_end_to_end(tmp_path):
    (tmp_path / "configs.yaml").write_text(TINY)
    (tmp_path / "manifest.yaml").write_text(MANIFEST)
    out = tmp_path / "out"
    proc = cli("run", "--quick", "--device", "cpu", "--configs", str(tmp_path / "configs.yaml"),
               "--manifest", str(tmp_path / "manifest.yaml"), "--out", str(out), "--format", "json")
    assert proc.returncode == 1, proc.stderr  # the broken configuration mismatched
    doc = json.loads(proc.stdout)
    assert doc["tool"]["torch"] and doc["device"] == "cpu"
    assert doc["configurations"]["broken"]["failures"] == 1
    assert doc["skipped"] == ["fix (${MPS_VERIFY_TEST_UNSET} unset)"]
    checks = {c["config"]: c["verdict"] for c in doc["crosschecks"]}
    assert checks == {"broken": "contradiction"}  # a failure where the model says safe
    conn = sqlite3.connect(out / "results.db")
    outcomes = dict(conn.execute("SELECT config, outcome FROM rounds"))
    assert outcomes == {"broken": "mismatch", "soak": "mismatch", "perf": "pass"}  # the soak runs the first one
    kinds = dict(conn.execute("SELECT kind, COUNT(*) FROM measurements GROUP BY kind"))
    soak = dict(conn.execute("SELECT metric, value FROM measurements WHERE kind = 'soak'"))
    assert soak["errors"] == 1 and soak["ops"] > 0 and soak["seconds"] >= 0.5
    assert kinds == {"scaling": 10, "batching": 10, "batcher": 4 * 5 + 8, "soak": 4}   # 4 modes, floor included
    assert {w for (w,) in conn.execute("SELECT DISTINCT workload FROM measurements WHERE kind = 'batcher'")} == \
        {"linear@16"}
    report = (out / "report.md").read_text()
    for text in ("**FAIL**", "| broken | - | 1 | mismatch 1 |", "returns a wrong result on purpose", "skipped | fix",
                 "CONTRADICTION", "## Thread scaling", "## Batching", "## Dynamic batcher", "## Soak", "torch",
                 "| linear@16 | floor |"):
        assert text in report
    for png in ("crash_rates.png", "scaling.png", "batching.png", "batcher.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    # the batched configuration's round and soak logged the batcher; TLC found both logs behaviours of the model
    traces = dict(conn.execute("SELECT source, verdict FROM trace_validations"))
    assert traces == {"broken round 1": "matched", "broken soak": "matched"}
    assert "## Batcher trace validation" in report and "2 log(s): 2 matched" in report
    again = cli("report", "--db", str(out / "results.db"), "--out", str(tmp_path / "again"))
    assert again.returncode == 0 and (tmp_path / "again" / "report.md").read_text() == report


def test_missing_torch_is_exit_3_with_how_to_install(capsys, monkeypatch):
    from checks.cli import run
    from runtime_tests.__main__ import main

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    assert run(main, ["run", "--device", "cpu", "--db", "/nonexistent/never-created.db"]) == 3
    err = capsys.readouterr().err
    assert "torch is not installed" in err and "pip install torch" in err and len(err.splitlines()) == 1


def test_repeat_runs_separate_measuring_processes_and_append_continues_them(tmp_path):
    (tmp_path / "configs.yaml").write_text(TINY)
    db_path = tmp_path / "r.db"
    common = ("--quick", "--device", "cpu", "--configs", str(tmp_path / "configs.yaml"), "--db", str(db_path))
    first = cli("run", *common, "--no-rounds", "--repeat", "2")
    assert first.returncode == 0, first.stderr
    again = cli("run", *common, "--no-rounds", "--append", "1", "--out", str(tmp_path / "out"))
    assert again.returncode == 0, again.stderr
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM rounds WHERE config != 'perf'").fetchone()[0] == 0
    procs = dict(conn.execute("SELECT proc, COUNT(*) FROM measurements WHERE kind = 'scaling' GROUP BY proc"))
    assert procs == {0: 10, 1: 10, 2: 10}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| performance processes | 3 per setting (--repeat), interleaved; 1 of them appended" in report
    row = next(line for line in report.splitlines() if line.startswith("| linear | 2 |"))
    assert row.count("[") == 4 and row.split("|")[-2].strip().count("-") == 1   # 3 processes' intervals, a range


def test_append_to_a_missing_run_is_exit_2(tmp_path):
    proc = cli("run", "--device", "cpu", "--no-rounds", "--append", "7", "--db", str(tmp_path / "r.db"))
    assert proc.returncode == 2 and "no run 7 to append to" in proc.stderr
