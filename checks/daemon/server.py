"""The resident process: answers one request at a time by running the command's `main` in this process.

What stays in memory between requests is what any process of ours keeps for its life (imported rules, compiled
patterns, the lock hierarchy's parse) and the last run's per-file results, as the gate keeps them between its
two revisions; the rest comes from the same cache files a one-shot run reads, so a request's output is the
output of the same command run on its own. The server
leaves when idle for --idle-timeout seconds, when asked to stop, or when our code on disk changed (its reply
then says `stale` and the client starts a new one)."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gc
import importlib
import io
import os
import socket
import sys
import time

from analyzers import cache, cores
from checks import cli
from checks.daemon import protocol

PACKAGES = ("analyzers", "checks", "mpsverify_base")
DEFAULT_IDLE_S = 1800
COLLECT_AFTER_S = 0.5
COLLECT_EVERY = 16
# what a run that finds its whole result cached never imports and an edit run needs (with the rules loaded
# and the scanner compiled): prepared while the server is idle after a request, not in a client's time
PREPARE = ("analyzers.structural_incremental", "analyzers.lockgraph_incremental", "analyzers.lockgraph",
           "analyzers.parse", "analyzers.rules.queries")


def code_stamp() -> tuple:
    """Every file of our packages with its size and mtime: a change means this process runs old code."""
    out = []
    for package in PACKAGES:
        for folder, dirs, files in os.walk(os.path.join(protocol.CODE_ROOT, package)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                try:
                    st = os.stat(os.path.join(folder, name))
                except OSError:
                    continue
                out.append((folder, name, st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


def prepare() -> None:
    """Import what an edit run needs (PREPARE), load the rules and compile the scanner."""
    for name in PREPARE:
        importlib.import_module(name)
    from analyzers.lexer import scanner
    from analyzers.rules import load_rules
    load_rules()
    scanner()


def execute(request: dict) -> dict:
    """Run one command as its own process would (cwd, environment, argv) and return its exit code and output."""
    name, argv, cwd, env = (request.get(k) for k in ("command", "argv", "cwd", "env"))
    if not (name in protocol.COMMANDS and isinstance(argv, list) and isinstance(cwd, str) and isinstance(env, dict)
            and all(isinstance(x, str) for x in (*argv, *env, *env.values()))):
        return {"rc": int(cli.Exit.USAGE), "stdout": "", "stderr": f"error: daemon: bad request {name!r}\n"}
    main = importlib.import_module(protocol.MODULES[name]).main
    cores.restart()      # how busy the machine is now, not since the server started
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli.run(main, argv, prog=name)
    except SystemExit as exc:        # --help and --version exit through argparse
        rc = exc.code if isinstance(exc.code, int) else int(exc.code is not None) * int(cli.Exit.USAGE)
    except OSError as exc:
        rc = int(cli.Exit.USAGE)
        err.write(f"error: daemon: cannot enter {cwd}: {exc.strerror}\n")
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
    return {"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue()}


class Server:
    """One listening socket, served until idle, stopped or stale."""

    def __init__(self, path: str, idle_s: float) -> None:
        self.path, self.idle_s = path, idle_s
        self.identity, self.stamp = protocol.identity(), code_stamp()
        self.started, self.requests, self.prepared = time.time(), 0, False
        self.lock = self.sock = None

    def bind(self) -> bool:
        """Take the socket's lock and listen; False when another server holds it (it is serving already)."""
        self.lock = open(self.path + ".lock", "a")
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)         # a server that died left it behind
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.sock.settimeout(self.idle_s)
        return True

    def close(self) -> None:
        """Stop listening, so that the next client starts a new server."""
        if self.sock is not None:
            self.sock.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        if self.lock is not None:
            self.lock.close()
        self.sock = self.lock = None

    def status(self) -> dict:
        """What `checks.daemon status` prints."""
        return {"pid": os.getpid(), "socket": self.path, "requests": self.requests,
                "up_s": round(time.time() - self.started, 1), "idle_timeout_s": self.idle_s,
                "prepared": self.prepared}

    def serve(self) -> None:
        """Answer requests until idle, stopped or stale."""
        uncollected = 0
        while self.sock is not None:
            # requests run with the collector off, as a one-shot run does; the garbage is collected when
            # nothing is asked for a moment (or after COLLECT_EVERY requests), not while a client waits
            self.sock.settimeout(COLLECT_AFTER_S if uncollected else self.idle_s)
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                if not uncollected:
                    break
                self.collect()
                uncollected = 0
                self.prepare()
                continue
            if uncollected >= COLLECT_EVERY:
                self.collect()
                uncollected = 0
            with conn:
                conn.settimeout(None)
                self.answer(conn)
            uncollected += 1
        self.close()

    def collect(self) -> None:
        """Free what the last requests left, and trim the cache as a one-shot run does when it ends."""
        gc.collect()
        with contextlib.suppress(cli.CliError):
            cache.trim()

    def prepare(self) -> None:
        """prepare() once, when idle: a new server's first edit paid for these imports (0.04-0.06 s here)."""
        if self.prepared:
            return
        self.prepared = True
        try:
            prepare()
        except Exception as exc:         # noqa: BLE001 -- a request needing them will report it
            print(f"warning: mps-verify daemon: preparing failed: {exc!r}", file=sys.stderr)

    def answer(self, conn: socket.socket) -> None:
        """Read one request and reply to it."""
        try:
            request = protocol.receive(conn)
        except (protocol.ProtocolError, OSError):
            return
        if request.get("identity") != self.identity or code_stamp() != self.stamp:
            self.close()            # before replying: the client's next server must find the socket free
            reply = {"stale": True}
        elif request.get("op") == "stop":
            self.close()
            reply = {"stopped": self.status()}
        elif request.get("op") == "status":
            reply = {"status": self.status()}
        else:
            self.requests += 1
            reply = execute(request)
        with contextlib.suppress(OSError):
            protocol.send(conn, reply)
        try:
            cache.write_deferred()       # the incremental states: written once the client has its answer
        except Exception as exc:         # noqa: BLE001 -- the answer has gone; the next run works from scratch
            print(f"warning: mps-verify daemon: a cache entry was not written: {exc!r}", file=sys.stderr)


def main(argv: list[str]) -> int:
    """Serve on --socket until idle, stopped or stale (started by the client, not by hand)."""
    p = argparse.ArgumentParser(prog="checks.daemon.server")
    p.add_argument("--socket", required=True)
    p.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_S)
    args = p.parse_args(argv)
    server = Server(args.socket, args.idle_timeout)
    if not server.bind():
        return 0
    gc.disable()
    cache.defer_writes()
    try:
        server.serve()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # no interpreter teardown: freeing the last requests' models takes seconds at 20 MB, CPU time that the
    # next run's process count (analyzers/cores.py) reads as other work (a cold lock graph 5.5 -> 8.5 s)
    os._exit(code)
