"""TLC's own distributed mode: one TLCServer and K TLCWorker processes, here on 127.0.0.1 only.

TLC 2.15's server counts distinct states exactly, but its "states generated" differs from run to run and
from a single-process run, and after an invariant violation it exits 0 without naming the violation and
prints a wrong trace. So: a pass is compared on distinct states only; any counterexample is re-run by the
single-process TLC, whose verdict and trace are reported (with a note that the distributed run found it).
Each run gets a free loopback port; workers reach the server through RMI on that port.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import socket
import tempfile
import time
from pathlib import Path

from checks import tools
from checks.cli import ToolMissing, UsageError
from checks.specs import tlc
from checks.specs.manifest import ModelEntry, RunOptions
from checks.specs.outcome import Outcome

LOOPBACK = "127.0.0.1"
SERVER = "tlc2.tool.distributed.TLCServer"
WORKER = "tlc2.tool.distributed.TLCWorker"
PORT_PROPERTY = "-Dtlc2.tool.distributed.TLCServer.port"
WORKER_THREADS = "-Dtlc2.tool.distributed.TLCWorker.threadCount"
_READY = "@!@!@STARTMSG 7000:"          # "TLC server at ... is ready"
# what a distributed run reports that a single-process re-run must confirm (name, exit code, trace)
CONFIRM = ("unconfirmed", "invariant", "property", "deadlock", "assumption", "eval-error", "inconsistent")


def free_port() -> int:
    """A TCP port free on the loopback interface right now (RMI's registry binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def rmi_options(port: int, host: str = LOOPBACK) -> tuple[str, ...]:
    """JVM options both sides need: the address RMI advertises and the server's registry port."""
    return (f"-Djava.rmi.server.hostname={host}", f"{PORT_PROPERTY}={port}")


def worker_command(java: str, jar: str, server_host: str, port: int, threads: int = 1,
                   jvm: tuple[str, ...] = ()) -> list[str]:
    """The command one TLCWorker runs (any host that has the same tla2tools.jar and can reach the server)."""
    return [java, *tlc.JVM_OPTIONS, *jvm, f"{PORT_PROPERTY}={port}", f"{WORKER_THREADS}={threads}",
            "-cp", jar, WORKER, server_host]


def _wait_ready(out_path: Path, server, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        try:
            if _READY in out_path.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def _serve(entry: ModelEntry, opts: RunOptions, out_path: Path) -> tlc.Invocation:
    """Start the server, then K workers once it is ready; wait for the server, then stop the workers."""
    java, jar = tools.java(), tools.tla2tools_jar()
    port = free_port()
    launch = dataclasses.replace(tlc.launch_for(entry, dataclasses.replace(opts, simulate=None), jar),
                                 main=SERVER, jvm=entry.jvm_options + rmi_options(port))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    spec_dir = entry.spec_path.parent
    with tempfile.TemporaryDirectory(prefix="tlc-meta-") as scratch:
        cfg = os.path.relpath(entry.cfg_path, spec_dir)
        if launch.cfg_text is not None:
            cfg = str(Path(scratch) / "rewritten.cfg")
            Path(cfg).write_text(launch.cfg_text, encoding="utf-8")
        cmd = tlc.command(java, jar, entry.spec_path.stem, cfg, Path(scratch) / "meta", opts, (), launch)
        start = time.perf_counter()
        deadline = time.monotonic() + opts.timeout
        workers = []
        with out_path.open("wb") as sink, (out_path.parent / "workers.out").open("wb") as worker_sink:
            server = tlc.spawn(cmd, spec_dir, sink)
            try:
                if _wait_ready(out_path, server, deadline):
                    own = (f"-Djava.rmi.server.hostname={LOOPBACK}", f"-Djava.io.tmpdir={scratch}")
                    for _ in range(opts.distributed or 1):
                        workers.append(tlc.spawn(worker_command(java, jar, LOOPBACK, port, 1, own), spec_dir,
                                                 worker_sink))
                rc, timed_out = tlc.wait(server, max(0.1, deadline - time.monotonic()))
            finally:
                for worker in workers:          # they would linger waiting for a server that is gone
                    tlc.wait(worker, 10)
        return tlc.Invocation(rc=rc, timed_out=timed_out, seconds=time.perf_counter() - start)


def run(entry: ModelEntry, opts: RunOptions) -> Outcome:
    """Check one model with TLCServer + K TLCWorkers on loopback; confirm any counterexample locally."""
    if entry.simulate is not None:
        # TLCServer searches exhaustively only: a model the manifest simulates is simulated here, locally
        outcome = tlc.run(entry, dataclasses.replace(opts, distributed=None))
        outcome.warnings.append("simulated model: run by local simulation (distributed TLC searches exhaustively)")
        return outcome
    out_path = opts.artifacts / entry.name / "tlc.out"
    try:
        invocation = _serve(entry, opts, out_path)
    except ToolMissing as exc:
        return Outcome(backend="tlc", kind="tool-missing", detail=str(exc))
    outcome = tlc.judge_file(out_path, invocation, entry.cfg_path, opts.timeout, entry.spec_path, distributed=True)
    note = f"distributed: TLCServer + {opts.distributed} TLCWorker(s) on {LOOPBACK}"
    if outcome.kind == "pass":
        generated, outcome.total = outcome.total, None
        outcome.warnings.append(f"{note}; {generated:,} states generated (distributed TLC's count varies; "
                                "only distinct states are compared)" if generated is not None else note)
        return outcome
    if outcome.kind not in CONFIRM:
        outcome.warnings.append(note)
        return outcome
    # a counterexample: the single-process TLC names it and gives the right trace
    local_opts = dataclasses.replace(opts, distributed=None,
                                     artifacts=opts.artifacts / entry.name / "confirm")
    confirmed = tlc.run(entry, local_opts)
    confirmed.seconds = round(outcome.seconds + confirmed.seconds, 3)
    confirmed.warnings.append(f"{note} reported {outcome.kind} ({outcome.detail or 'no detail'}); "
                              f"the verdict and trace are from a single-process re-run")
    return confirmed


def _host(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() or c in "'\";&|$`" for c in value):
        raise UsageError(f"config specs.distributed.{what}: a host name or address, got {value!r}")
    return value


def plan(entry: ModelEntry, settings: dict) -> list[str]:
    """The server and per-host worker command lines for several machines (printed, never run from here).

    `settings` is the config's specs.distributed: {server: HOST, hosts: [HOST, ...], port: N, threads: T}.
    Every host needs the same tla2tools.jar at the same path and must reach the server's RMI registry
    (`port`) and the ports RMI then picks; the server needs the spec and cfg (workers fetch modules over RMI)."""
    if not isinstance(settings, dict) or "server" not in settings or not settings.get("hosts"):
        raise UsageError("--worker-commands needs specs.distributed.server and specs.distributed.hosts in the config")
    server = _host(settings["server"], "server")
    hosts = settings["hosts"] if isinstance(settings["hosts"], list) else [settings["hosts"]]
    hosts = [_host(h, "hosts") for h in hosts]
    port, threads = settings.get("port", 10997), settings.get("threads", 1)
    for key, value in (("port", port), ("threads", threads)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise UsageError(f"config specs.distributed.{key} must be a positive integer")
    java, jar = tools.java(), tools.tla2tools_jar()
    cfg = os.path.relpath(entry.cfg_path, entry.spec_path.parent)
    server_cmd = [java, *tlc.JVM_OPTIONS, *entry.jvm_options, *rmi_options(port, server), "-cp", jar, SERVER,
                  "-tool", "-config", cfg, *entry.tlc_options, f"{entry.spec_path.stem}.tla"]
    lines = [f"# on {server}, in {entry.spec_path.parent}:", shlex.join(server_cmd)]
    for host in hosts:
        worker = worker_command(java, jar, server, port, threads, (f"-Djava.rmi.server.hostname={host}",))
        lines += [f"# on {host}:", shlex.join(worker)]
    return lines
