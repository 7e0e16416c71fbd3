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
OUTCOMES = ("pass", "mismatch", "exception", "signal", "hang")


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


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


def spawn(spec: dict[str, Any], env: dict[str, str] | None = None, preload: str | None = None,
          timeout_s: float = 120.0) -> RoundResult:
    """Run `spec` in a freshly spawned child (sys.executable, no shell) and classify the ending."""
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
            try:
                rc: int | None = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc = None
        duration = time.perf_counter() - t0
        stderr = _tail(folder / "stderr")
        if rc is None:
            return RoundResult("hang", None, duration, proc.pid, f"no result after {timeout_s:g} s; killed")
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
