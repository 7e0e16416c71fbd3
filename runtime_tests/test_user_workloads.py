"""Users' own workloads: a factory from a temporary package runs through the rounds, the statistics, the
measurements and the report like a built-in workload; an unsafe one (a shared output buffer) is reported
as `mismatch` with its rate; bad factories are one-line errors with exit 2."""

import json
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from runtime_tests.rounds import REPO_ROOT

pytestmark = pytest.mark.quick

PACKAGE = '''
import time

import torch
from torch import nn

from runtime_tests.workloads import UserWorkload


def _inputs(count, seed):
    return torch.randn(count, 16, generator=torch.Generator().manual_seed(seed))


class SharedOutput(nn.Module):
    """Writes every result into one buffer on the module and returns it: threads read each other's."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(16, 16)
        self.out = None

    def forward(self, x):
        y = self.linear(x)
        if self.out is None or self.out.shape != y.shape:
            self.out = torch.empty_like(y)
        self.out.copy_(y)
        time.sleep(0.002)   # the window in which another thread overwrites the buffer (a slow kernel)
        return self.out


def shared():
    return UserWorkload(SharedOutput(), _inputs, rtol=1e-4, atol=1e-4, dtype="float32")


def safe():
    return {"module": nn.Sequential(nn.Linear(16, 32), nn.Tanh()), "inputs": _inputs,
            "rtol": 1e-4, "atol": 1e-4, "dtype": "float32"}


def not_a_workload():
    return nn.Linear(16, 16)


def raises():
    raise RuntimeError("weights file missing")


def wrong_inputs():
    return UserWorkload(nn.Linear(16, 16), lambda count, seed: [1, 2, 3])
'''

CONFIGS = '''
configurations:
  - name: native_threads
    model: AGXEncoderRace_none
  - name: python_lock
    model: AGXEncoderRace_global_lock
    python_lock: true
workloads:
  mine: userpkg.models:safe
plans:
  quick:
    size: quick
    rounds: 2
    threads: 4
    iterations: 10
    workloads: [mine]
    timeout_s: 60
    soak_s: 0
    perf:
      workloads: [mine]
      threads: [1, 2]
      reps: 3
      seconds: 0.02
      batches: [1, 4]
      batch_workloads: [mine]
      batcher_workloads: [mine]
      clients: 2
      max_delay_ms: 1
'''


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    (root / "userpkg").mkdir()
    (root / "userpkg" / "__init__.py").write_text("", encoding="utf-8")
    (root / "userpkg" / "models.py").write_text(textwrap.dedent(PACKAGE), encoding="utf-8")
    (root / "configs.yaml").write_text(CONFIGS, encoding="utf-8")
    return root


def cli(root, *args):
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "runtime_tests", "run", "--device", "cpu", "--configs",
                           str(root / "configs.yaml"), *args], cwd=root, capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.fixture(scope="module")
def unsafe_run(package):
    out = package / "out"
    proc = cli(package, "--workload", "userpkg.models:shared", "--no-perf", "--rounds", "3", "--out", str(out),
               "--format", "json")
    return proc, out


def test_unsafe_user_workload_is_a_mismatch_with_its_rate(unsafe_run):
    proc, out = unsafe_run
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["configurations"]["native_threads"]["failures"] == 3
    assert {f["outcome"] for f in doc["failed_rounds"]} == {"mismatch"}
    assert {f["workload"] for f in doc["failed_rounds"]} == {"shared"}
    assert doc["configurations"]["python_lock"]["failures"] == 0   # the lock covers the copy to the host
    conn = sqlite3.connect(out / "results.db")
    wrong, run = conn.execute("SELECT SUM(wrong), SUM(inferences) FROM rounds WHERE config = 'native_threads'").fetchone()
    assert run == 3 * 4 * 10 and 0 < wrong <= run
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| native_threads | - | 3 | mismatch 3 |" in report
    assert f"| native_threads | all | 3/3 | {run} | {wrong} | {100 * wrong / run:.3g}% |" in report
    assert "userpkg.models:shared (user's factory)" in report


def test_user_workload_from_the_configs_yaml_runs_rounds_and_measurements(package):
    out = package / "out-safe"
    proc = cli(package, "--out", str(out), "--rounds", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = (out / "report.md").read_text(encoding="utf-8")
    for section in ("## Thread scaling", "## Batching", "## Dynamic batcher"):
        assert section in report
    assert "| mine | 1 |" in report and "| mine | batcher |" in report


@pytest.mark.parametrize("ref, message", [
    ("userpkg.models:not_a_workload", "returned Linear, not a UserWorkload"),
    ("userpkg.models:raises", "raised RuntimeError: weights file missing"),
    ("userpkg.models:wrong_inputs", "must return a tensor with 1 rows"),
    ("userpkg.models:missing", "has no function missing"),
    ("userpkg.nothere:f", "cannot import userpkg.nothere: ModuleNotFoundError"),
    ("no-colon", "must look like pkg.module:function"),
])
def test_bad_factories_are_one_line_errors_with_exit_2(package, ref, message):
    proc = cli(package, "--workload", ref, "--no-perf")
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
