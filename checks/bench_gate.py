"""`make bench-gate`: time the gate on a pull request touching a few files of the real PyTorch 2.6.0 tree."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checks import cli
from checks.provenance import tool_info
from checks.sources import CORPUS_DIR, REPO_ROOT, corpus_mps_dirs

TOUCHED = ("aten/src/ATen/mps/MPSStream.mm", "aten/src/ATen/native/mps/operations/Linear.mm",
           "aten/src/ATen/native/mps/OperationUtils.mm")
REPEAT = 3
FORK_BUNDLE = REPO_ROOT.parent / "shared" / "corpora" / "dml-stream-pool-pr.bundle"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
                   check=True, capture_output=True)


def make_fork(dest: Path) -> Path:
    """A git repository with the 2.6.0 MPS tree as base and a PR commit editing a few files."""
    corpus_mps_dirs()
    for sub in ("aten/src/ATen/mps", "aten/src/ATen/native/mps"):
        shutil.copytree(CORPUS_DIR / sub, dest / sub)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-qm", "base: PyTorch 2.6.0 MPS tree")
    for rel in TOUCHED:
        path = dest / rel
        path.write_text("// touched by the benchmark PR\n" + path.read_text(encoding="utf-8", errors="replace"))
    _git(dest, "commit", "-qam", "pr: touch a few files")
    return dest


def clone_fork_pr(dest: Path) -> Path | None:
    """The real fork pull request (the dML stream-pool bundle, base = HEAD~1), or None when it is absent."""
    if not FORK_BUNDLE.is_file():
        return None
    subprocess.run(["git", "clone", "-q", str(FORK_BUNDLE), str(dest), "-b", "master"], check=True, capture_output=True)
    return dest


def time_gate(repo: Path, cache_dir: Path, cold: bool, base: str = "main~1") -> float:
    """Wall time of one `python -m checks.gate` process (cold: an empty parse cache)."""
    if cold:
        shutil.rmtree(cache_dir, ignore_errors=True)
    cmd = [sys.executable, "-m", "checks.gate", "--base", base, "--repo", str(repo), "--format", "json"]
    env = {"MPS_VERIFY_CACHE_DIR": str(cache_dir), "PATH": "/usr/bin:/bin"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise cli.UsageError(f"gate failed: {proc.stderr.strip()}")
    return elapsed


def main(argv: list[str]) -> int:
    """Run the benchmark and print a table; JSON under .mps-verify/bench/gate.json."""
    cli.parser("python -m checks.bench_gate", "Time the gate on a PR of the real 2.6.0 tree.").parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mps-verify-bench-gate-") as tmp:
        repo = make_fork(Path(tmp) / "fork")
        cache = Path(tmp) / "cache"
        runs = {"cold": [], "warm": []}
        for _ in range(REPEAT):
            runs["cold"].append(time_gate(repo, cache, cold=True))
            runs["warm"].append(time_gate(repo, cache, cold=False))
        fork = clone_fork_pr(Path(tmp) / "fork-pr")
        if fork is not None:
            runs["fork cold"], runs["fork warm"] = [], []
            for _ in range(REPEAT):
                runs["fork cold"].append(time_gate(fork, cache, cold=True, base="HEAD~1"))
                runs["fork warm"].append(time_gate(fork, cache, cold=False, base="HEAD~1"))
    result = {"tool": tool_info(), "touched_files": list(TOUCHED), "repeat": REPEAT,
              "fork_pr": str(FORK_BUNDLE) if fork is not None else None,
              "median_s": {k: round(statistics.median(v), 3) for k, v in runs.items()},
              "runs_s": {k: [round(x, 3) for x in v] for k, v in runs.items()}, "target_s": 3.0}
    out = REPO_ROOT / ".mps-verify" / "bench" / "gate.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"gate on a PR touching {len(TOUCHED)} files of PyTorch 2.6.0, and on the real fork PR (35 files) when its "
          f"bundle is there (median of {REPEAT}, whole process):")
    if fork is None:
        print(f"  fork PR: skipped, no bundle at {FORK_BUNDLE}")
    for k in runs:
        print(f"  {k:10} cache: {result['median_s'][k]:.2f} s  (runs: {', '.join(f'{x:.2f}' for x in runs[k])})"
              f"  target < 3 s: {'met' if result['median_s'][k] < 3 else 'MISSED'}")
    print(f"written to {out.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
