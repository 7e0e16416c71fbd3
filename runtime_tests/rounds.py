"""Launch one child process per round and classify how it ended: pass, mismatch, exception,
signal:NAME or hang. No retries: every attempt is one result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime_tests import crashreports, images

REPO_ROOT = Path(__file__).resolve().parents[1]
SETUP_TIMEOUT_S = 300.0  # importing torch and initialising a device; slow on busy machines
EXIT_GRACE_S = 60.0  # interpreter and driver teardown after the result is written


@dataclass
class RoundResult:
    """How one child ended and what it reported."""

    outcome: str  # pass | mismatch | exception | signal:NAME | hang
    returncode: int | None
    duration_s: float
    pid: int
    detail: str = ""
    doc: dict[str, Any] = field(default_factory=dict)
    crash_reports: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Every outcome but pass counts as a failure."""
        return self.outcome != "pass"


def signal_name(returncode: int) -> str:
    """'signal:SIGSEGV' for a child killed by signal 11 (Popen reports -11)."""
    try:
        return f"signal:{signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal:{-returncode}"


def child_env(env: dict[str, str], preload: str | None) -> dict[str, str]:
    """The child's environment: ours, plus the configuration's variables and preload library."""
    merged = dict(os.environ)
    merged.update({k: str(v) for k, v in env.items()})
    merged["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), merged.get("PYTHONPATH")) if p)
    if preload:
        merged[images.preload_variable()] = preload
    return merged


def _stderr(path: Path, limit: int = 3000) -> str:
    """The child's stderr from faulthandler's 'Fatal Python error' line on (else its tail), capped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    start = text.find("Fatal Python error")
    return text[start:start + limit] if start >= 0 else text[-limit:]


def _wait(proc: subprocess.Popen, ready: Path, result: Path, setup_s: float, timeout_s: float) -> tuple[int | None, str]:
    """Wait for the child through three phases: set-up (until it signals ready, `setup_s`), work (until
    its result exists, `timeout_s`: the hang clock) and exit (EXIT_GRACE_S, interpreter teardown).
    Returns (return code, or None when it had to be killed; why it was killed)."""
    phases = [(ready, setup_s, f"set-up (import, device, model) not done after {setup_s:g} s"),
              (result, timeout_s, f"no result {timeout_s:g} s after set-up"),
              (None, EXIT_GRACE_S, f"result written but no exit within {EXIT_GRACE_S:g} s")]
    phase = 0
    deadline = time.monotonic() + phases[0][1]
    while True:
        try:
            return proc.wait(timeout=0.05), ""
        except subprocess.TimeoutExpired:
            pass
        marker = phases[phase][0]
        if marker is not None and marker.exists():
            phase += 1
            deadline = time.monotonic() + phases[phase][1]
        elif time.monotonic() >= deadline:
            proc.kill()
            proc.wait()
            return None, phases[phase][2] + "; killed"


def spawn(spec: dict[str, Any], env: dict[str, str] | None = None, preload: str | None = None,
          timeout_s: float = 120.0, setup_s: float = SETUP_TIMEOUT_S) -> RoundResult:
    """Run `spec` in a freshly spawned child (sys.executable, no shell) and classify the ending; a
    child that has not finished `timeout_s` after its set-up (or `setup_s` into set-up) is a hang."""
    spec = dict(spec)
    spec.setdefault("env_names", sorted((env or {}).keys()))
    if preload:
        spec["check_images"] = sorted({*spec.get("check_images", []), preload})
        spec["require_images"] = sorted({*spec.get("require_images", []), preload})
    with tempfile.TemporaryDirectory(prefix="mpsv-round-") as tmp:
        folder = Path(tmp)
        (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        result_path = folder / "result.json"
        started = time.time()
        t0 = time.perf_counter()
        with open(folder / "stdout", "wb") as out, open(folder / "stderr", "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-X", "faulthandler", "-m", "runtime_tests.child",
                 str(folder / "spec.json"), str(result_path)],
                cwd=REPO_ROOT, env=child_env(env or {}, preload), stdout=out, stderr=err,
                stdin=subprocess.DEVNULL)
            rc, why = _wait(proc, Path(str(result_path) + ".ready"), result_path, setup_s, timeout_s)
        duration = time.perf_counter() - t0
        stderr = _stderr(folder / "stderr")
        if rc is None:
            return RoundResult("hang", None, duration, proc.pid, why)
        if rc < 0:
            reports = crashreports.harvest(proc.pid, started) if sys.platform == "darwin" else []
            return RoundResult(signal_name(rc), rc, duration, proc.pid, stderr, crash_reports=reports)
        try:
            doc = json.loads(result_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return RoundResult("exception", rc, duration, proc.pid, f"exit {rc} without a result: {stderr}")
    outcome = doc.get("outcome", "exception")
    if outcome not in ("pass", "mismatch", "exception"):
        outcome = "exception"
    detail = "; ".join(doc.get("errors", []) + doc.get("mismatch_examples", []))
    return RoundResult(outcome, rc, duration, proc.pid, detail, doc)
