"""`python -m checks.daemon`: run an analyzer through the resident process, and start, stop or ask after it.

  run [--idle-timeout S] COMMAND [ARGS...]   COMMAND is structural, lockgraph, tsa or gate; ARGS are its own.
                                             Starts the server when none answers; prints what the command
                                             prints and exits with its exit code.
  start [--idle-timeout S]                   start the server (exit 0 also when one is running)
  stop                                       stop it (exit 0 also when none was running)
  status                                     exit 0 and a line when one is running, 1 when none is

One server per interpreter, mps-verify checkout and MPS_VERIFY_* settings; it leaves after --idle-timeout
seconds without a request (default 1800) or when mps-verify's code changes. When it cannot be started the
command runs in this process instead, with a note on stderr."""

from __future__ import annotations

import os
import sys
import time

from checks.daemon import protocol

USAGE = ("usage: python -m checks.daemon {run [--idle-timeout S] COMMAND [ARGS...] | start [--idle-timeout S] "
         "| stop | status}")
START_WAIT_S = 30.0


class _Usage(Exception):
    pass


def _start(path: str, idle_s: str | None) -> None:
    """Start a server on `path` in its own session and wait until it listens (a ProtocolError if it does not)."""
    import subprocess       # here: the client's start-up is paid by every run, a server's start rarely
    log = path[:-len(".sock")] + ".log"
    command = [sys.executable, "-m", "checks.daemon.server", "--socket", path]
    if idle_s is not None:
        command += ["--idle-timeout", idle_s]
    with open(log, "ab") as sink:
        proc = subprocess.Popen(command, cwd=protocol.CODE_ROOT, stdin=subprocess.DEVNULL, stdout=sink,
                                stderr=sink, start_new_session=True)
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        if protocol.listening(path):
            return
        if proc.poll() not in (None, 0):
            break
        time.sleep(0.01)
    raise protocol.ProtocolError(f"the server did not start (see {log})")


def _running(pid: int) -> bool:
    """Whether process `pid` still runs (one that ended and waits to be reaped by its new parent does not)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (ProcessLookupError, PermissionError):     # gone (or the number is another user's now)
        return False
    except OSError:
        return True                                   # no /proc here: kill() alone says it


def _gone(pid: int) -> None:
    """Wait (up to START_WAIT_S) until process `pid` has ended: `stop` returns when the server is gone."""
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.01)


def _options(args: list[str]) -> tuple[str | None, list[str]]:
    """(--idle-timeout's value, the rest) from the words after a subcommand."""
    if args[:1] == ["--idle-timeout"]:
        if len(args) < 2:
            raise _Usage("--idle-timeout needs a number of seconds")
        try:
            if not float(args[1]) > 0:
                raise ValueError
        except ValueError:
            raise _Usage(f"--idle-timeout {args[1]!r}: expected a number of seconds > 0") from None
        return args[1], args[2:]
    return None, args


def run(path: str, command: str, argv: list[str], idle_s: str | None) -> int:
    """Send one command to the server (starting it when needed, again once when it was stale) and relay it."""
    try:
        cwd = os.getcwd()
    except OSError as exc:        # the folder was removed: the server could not enter it either
        raise protocol.ProtocolError(f"no working folder ({exc.strerror})") from exc
    request = {"op": "run", "command": command, "argv": argv, "cwd": cwd, "env": dict(os.environ)}
    for _ in range(2):
        reply = protocol.ask(path, request)
        if reply is None or reply.get("stale"):
            _start(path, idle_s)
            reply = protocol.ask(path, request)
        if reply is not None and not reply.get("stale"):
            sys.stdout.write(reply.get("stdout", ""))
            sys.stderr.write(reply.get("stderr", ""))
            return int(reply.get("rc", 2))
    raise protocol.ProtocolError("no server answered")


def _here(command: str, argv: list[str], why: str) -> int:
    """Run the command in this process (the daemon could not be used)."""
    import importlib
    from checks import cli
    print(f"note: mps-verify daemon unavailable ({why}); running {command} here", file=sys.stderr)
    sys.argv = [command, *argv]
    return cli.run(importlib.import_module(protocol.MODULES[command]).main, collect=False)


def main(argv: list[str]) -> int:
    """Dispatch the subcommand; exit codes as the command's, 2 on usage errors."""
    if not argv or argv[0] not in ("run", "start", "stop", "status"):
        raise _Usage(USAGE)
    op, rest = argv[0], argv[1:]
    if op == "run":
        idle_s, rest = _options(rest)
        if not rest or rest[0] not in protocol.COMMANDS:
            raise _Usage(f"run: expected one of {', '.join(protocol.COMMANDS)}, then its arguments")
        try:
            return run(protocol.socket_path(), rest[0], rest[1:], idle_s)
        except protocol.ProtocolError as exc:
            return _here(rest[0], rest[1:], str(exc))
    idle_s, rest = _options(rest) if op == "start" else (None, rest)
    if rest:
        raise _Usage(f"{op}: unexpected {rest[0]!r}")
    path = protocol.socket_path()
    reply = protocol.ask(path, {"op": "status" if op != "stop" else "stop"})
    if op == "start" and (reply is None or reply.get("stale")):
        _start(path, idle_s)
        reply = protocol.ask(path, {"op": "status"})
    info = (reply or {}).get("status") or (reply or {}).get("stopped")
    if op == "stop" and info is not None:
        _gone(info["pid"])
    if info is None:
        print("mps-verify daemon: not running")
        return 1 if op == "status" else 0
    verb = {"stop": "stopped", "start": "running"}.get(op, "running")
    print(f"mps-verify daemon: {verb} (pid {info['pid']}, {info['requests']} requests, up {info['up_s']} s, "
          f"idle timeout {info['idle_timeout_s']:g} s, socket {info['socket']})")
    return 0


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except _Usage as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    except (protocol.ProtocolError, OSError) as exc:
        print(f"error: mps-verify daemon: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        code = 130
    raise SystemExit(code)
