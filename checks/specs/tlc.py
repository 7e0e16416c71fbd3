"""The TLC backend: run the real TLC on one model and judge its output."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from checks import tools
from checks.cli import ToolMissing
from checks.sources import REPO_ROOT
from checks.specs import messages, verdict
from checks.specs.cfgfile import read_cfg
from checks.specs.manifest import ModelEntry, RunOptions
from checks.specs.outcome import Outcome

JVM_OPTIONS = ("-XX:+UseParallelGC",)
# TLC runs in its own session (so a timeout can kill its whole group); that also shields it from the
# terminal's Ctrl-C, hence this registry for stop_all()
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Invocation:
    """What one TLC process did: exit code (None when killed), whether it timed out, wall seconds."""

    rc: int | None
    timed_out: bool
    seconds: float


CACHE = REPO_ROOT / ".mps-verify" / "cache" / "tlc-options.json"


@functools.cache
def supported_options(java: str, jar: str) -> frozenset[str]:
    """The switches this jar's `-help` lists (so a newer or older TLC gets only what it knows).

    Cached on disk per java + jar (path, size, mtime): the probe costs a JVM start on every run otherwise.
    """
    key = _probe_key(java, jar)
    try:
        cached = json.loads(CACHE.read_text(encoding="utf-8"))
        if cached.get("key") == key:
            return frozenset(cached["options"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        proc = subprocess.run([java, "-cp", jar, "tlc2.TLC", "-help"], capture_output=True, text=True,
                              timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissing(f"cannot run TLC ({exc}); {tools.INSTALL_HINTS['java']}") from exc
    options = frozenset(re.findall(r"^\s*(-\w+)", proc.stdout + proc.stderr, re.M))
    if "-config" in options:            # 2.15 exits 1 after -help: judge the text, not the code
        try:
            CACHE.parent.mkdir(parents=True, exist_ok=True)
            CACHE.write_text(json.dumps({"key": key, "options": sorted(options)}), encoding="utf-8")
        except OSError:
            pass                        # a read-only checkout just probes every time
    return options


def _probe_key(java: str, jar: str) -> list:
    stats = []
    for path in (java, jar):
        try:
            st = Path(path).resolve().stat()
            stats.append([str(Path(path).resolve()), st.st_size, st.st_mtime_ns])
        except OSError:
            stats.append([path, None, None])
    return stats


def command(java: str, jar: str, module: str, cfg: str, metadir: Path, opts: RunOptions,
            jvm: tuple[str, ...] = ()) -> list[str]:
    """The TLC command line, relative spec and cfg names (run it with cwd = the spec's folder).

    The JVM's java.io.tmpdir is a folder of the run's own metadir (created here): SANY copies the
    standard modules (Naturals.tla, ...) out of the jar into it, and two JVMs rewriting a shared
    /tmp/Naturals.tla at once made one fail with a NullPointerException in SANY (seen once in CI:
    exit 150 and no result message)."""
    known = supported_options(java, jar)
    scratch = metadir / "jvm-tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    jvm = (*jvm, f"-Djava.io.tmpdir={scratch}")
    wanted = [("-tool", ()), ("-workers", (str(opts.workers),)), ("-metadir", (str(metadir),)),
              ("-coverage", ("1",) if opts.coverage else None), ("-config", (cfg,))]
    cmd = [java, *JVM_OPTIONS, *jvm, "-cp", jar, "tlc2.TLC"]
    for switch, args in wanted:
        if args is not None and switch in known:
            cmd += [switch, *args]
    missing = {"-tool", "-config", "-metadir", "-workers"} - known
    if missing:
        raise ToolMissing(f"{jar} lacks TLC options {sorted(missing)}; {tools.INSTALL_HINTS['tla2tools']}")
    return cmd + [f"{module}.tla"]


def invoke(spec_dir: Path, module: str, cfg: str, opts: RunOptions, out_path: Path,
           jvm: tuple[str, ...] = ()) -> Invocation:
    """Run TLC once, raw output to `out_path`; kill the process group on timeout."""
    java, jar = tools.java(), tools.tla2tools_jar()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # each run gets its own metadir: two runs starting in the same second in one parent crash 2.15
    with tempfile.TemporaryDirectory(prefix="tlc-meta-") as metadir:
        cmd = command(java, jar, module, cfg, Path(metadir), opts, jvm)
        start = time.perf_counter()
        with out_path.open("wb") as sink:
            try:
                proc = subprocess.Popen(cmd, cwd=spec_dir, stdout=sink, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
            except OSError as exc:
                raise ToolMissing(f"cannot start {java}: {exc.strerror}; {tools.INSTALL_HINTS['java']}") from exc
            with _LIVE_LOCK:
                _LIVE.add(proc)
            try:
                rc, timed_out = proc.wait(timeout=opts.timeout), False
            except subprocess.TimeoutExpired:
                _kill(proc)
                rc, timed_out = None, True
            except BaseException:
                _kill(proc)
                raise
            finally:
                with _LIVE_LOCK:
                    _LIVE.discard(proc)
        return Invocation(rc=rc, timed_out=timed_out, seconds=time.perf_counter() - start)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def stop_all() -> None:
    """Kill every TLC this process started that is still running (on Ctrl-C)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def reported_version(outputs: list[Path]) -> str | None:
    """The version line TLC printed in a run (message 2262); spares the tool block a JVM start."""
    for path in outputs:
        try:
            with path.open(encoding="utf-8", errors="replace") as handle:
                head = handle.read(2000)
        except OSError:
            continue
        if (m := re.search(r"^TLC2 Version .*$", head, re.M)):
            return m.group(0).strip()
    return None


def judge_file(out_path: Path, run: Invocation, cfg_path: Path, timeout: float | None) -> Outcome:
    """Judge a recorded TLC output file."""
    text = out_path.read_text(encoding="utf-8", errors="replace")
    try:
        properties = read_cfg(cfg_path).properties
    except OSError:
        properties = ()
    outcome = verdict.judge(messages.parse(text), run.rc, timed_out=run.timed_out, timeout=timeout,
                            properties=properties)
    outcome.seconds = round(run.seconds, 3)
    return outcome


def run(entry: ModelEntry, opts: RunOptions) -> Outcome:
    """Run one model through TLC; raw output lands in <artifacts>/<model>/tlc.out."""
    out_path = opts.artifacts / entry.name / "tlc.out"
    try:
        invocation = invoke(entry.spec_path.parent, entry.module, entry.cfg, opts, out_path)
    except ToolMissing as exc:
        return Outcome(backend="tlc", kind="tool-missing", detail=str(exc))
    outcome = judge_file(out_path, invocation, entry.cfg_path, opts.timeout)
    if opts.coverage and outcome.kind == "pass":
        outcome.warnings += [f"action {name} was never taken (dead action)"
                             for name in outcome.coverage.get("dead", [])]
    return outcome
