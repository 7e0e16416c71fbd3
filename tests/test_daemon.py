"""checks.daemon: a command through the resident process prints, writes and exits as the command does alone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checks.daemon import protocol, server

ROOT = Path(__file__).resolve().parent.parent
FLAG = ROOT / "tests" / "fixtures" / "structural" / "ST.001.a_flag.mm"
PASS = ROOT / "tests" / "fixtures" / "structural" / "ST.001.a_pass.mm"


@pytest.fixture
def env(tmp_path):
    """A private runtime folder and cache; the server started under them is stopped afterwards."""
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    out = {**os.environ, "XDG_RUNTIME_DIR": str(run_dir), "MPS_VERIFY_CACHE_DIR": str(tmp_path / "cache")}
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    yield out
    subprocess.run([sys.executable, "-m", "checks.daemon", "stop"], env=out, cwd=ROOT, capture_output=True)


def daemon(env: dict, *argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checks.daemon", *argv], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def alone(env: dict, *argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def _alive(pid: int) -> bool:
    """Whether process `pid` runs (an ended one its new parent has not reaped yet does not)."""
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except ProcessLookupError:
        return False
    except OSError:
        return True


def _report(text: str) -> dict:
    doc = json.loads(text)
    doc.pop("tool")          # git's view of the checkout may change between the two runs
    return doc


def test_run_answers_as_the_command_alone_and_status_and_stop(env):
    for fixture, code in ((FLAG, 1), (PASS, 0)):
        one = alone(env, "checks.structural", str(fixture), "--format", "json")
        for _ in range(2):            # the first starts the server, the second finds it
            got = daemon(env, "run", "structural", str(fixture), "--format", "json")
            assert (got.returncode, got.stderr) == (one.returncode, one.stderr) == (code, "")
            assert _report(got.stdout) == _report(one.stdout)
    status = daemon(env, "status")
    assert status.returncode == 0 and "running (pid" in status.stdout and "4 requests" in status.stdout
    pid = int(status.stdout.split("(pid ")[1].split(",")[0])
    stopped = daemon(env, "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not _alive(pid)        # stop returns when the server has ended, not when it was asked to
    gone = daemon(env, "status")
    assert (gone.returncode, gone.stdout.strip()) == (1, "mps-verify daemon: not running")


def test_run_writes_output_where_the_client_is_and_reports_usage_errors(env, tmp_path):
    got = daemon(env, "run", "structural", str(FLAG), "--format", "sarif", "--output", "out.sarif", cwd=tmp_path)
    assert got.returncode == 1 and json.loads((tmp_path / "out.sarif").read_text())["runs"]
    bad = daemon(env, "run", "structural", str(FLAG), "--jobs", "0")
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
    helped = daemon(env, "run", "lockgraph", "--help")
    assert helped.returncode == 0 and "usage:" in helped.stdout
    assert daemon(env, "status").returncode == 0          # neither stopped the server


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["run"], ["run", "ls"], ["run", "--idle-timeout", "x", "tsa"],
                                  ["status", "extra"], ["start", "--idle-timeout", "-1"]])
def test_usage_errors_are_one_line_and_exit_2(env, argv):
    got = daemon(env, *argv)
    assert got.returncode == 2 and got.stderr.startswith("error: ") and got.stderr.count("\n") == 1
    assert got.stdout == ""


def test_a_folder_others_can_enter_is_refused_and_the_command_runs_here(env, tmp_path):
    shared = tmp_path / "shared"
    (shared / "mps-verify").mkdir(parents=True)
    (shared / "mps-verify").chmod(0o777)
    env = {**env, "XDG_RUNTIME_DIR": str(shared)}
    got = daemon(env, "run", "structural", str(FLAG), "--format", "json")
    assert got.returncode == 1 and _report(got.stdout)["findings"]
    assert got.stderr.startswith("note: mps-verify daemon unavailable (") and "not a private folder" in got.stderr
    assert daemon(env, "status").returncode == 2


def test_a_removed_working_folder_runs_the_command_here(env, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "import os, sys, runpy; os.rmdir(os.getcwd()); "
                             "sys.argv = ['x', *sys.argv[1:]]; runpy.run_module('checks.daemon', run_name='__main__')",
                             "run", "structural", str(FLAG), "--format", "json"],
                            env={**env, "PYTHONPATH": str(ROOT)}, cwd=gone, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and _report(out)["findings"]
    assert err.startswith("note: mps-verify daemon unavailable (no working folder")


def test_idle_server_leaves_and_removes_its_socket(env):
    assert daemon(env, "start", "--idle-timeout", "0.5").returncode == 0
    sockets = list(Path(env["XDG_RUNTIME_DIR"], "mps-verify").glob("*.sock"))
    assert len(sockets) == 1
    deadline = time.monotonic() + 20
    while sockets[0].exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not sockets[0].exists() and daemon(env, "status").returncode == 1


def test_an_idle_server_prepares_what_an_edit_run_imports(env):
    assert daemon(env, "start").returncode == 0
    path = protocol.socket_path(env)
    assert protocol.ask(path, {"op": "status"}, env)["status"]["prepared"] is False
    deadline = time.monotonic() + 30           # idle for COLLECT_AFTER_S after a request: it prepares
    while not protocol.ask(path, {"op": "status"}, env)["status"]["prepared"] and time.monotonic() < deadline:
        time.sleep(4 * server.COLLECT_AFTER_S)
    assert protocol.ask(path, {"op": "status"}, env)["status"]["prepared"] is True
    done = daemon(env, "run", "structural", str(FLAG), "--format", "json")
    assert done.returncode == 1 and _report(done.stdout) == _report(alone(env, "checks.structural", str(FLAG),
                                                                          "--format", "json").stdout)


def test_prepare_imports_the_edit_runs_modules():
    server.prepare()
    from analyzers.rules import load_rules
    assert set(server.PREPARE) <= set(sys.modules) and load_rules.cache_info().currsize == 1


def _answer(srv: server.Server, request: dict) -> dict:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        protocol.send(theirs, request)
        srv.answer(ours)
        return protocol.receive(theirs)


def test_server_whose_code_changed_replies_stale_and_stops_listening(tmp_path):
    srv = server.Server(str(tmp_path / "s.sock"), 60)
    assert _answer(srv, {"op": "status", "identity": protocol.identity()})["status"]["requests"] == 0
    srv.stamp = ()                                    # as if a module changed on disk since it started
    assert _answer(srv, {"op": "status", "identity": protocol.identity()}) == {"stale": True}
    assert srv.sock is None


def test_server_refuses_other_identities_and_bad_requests(tmp_path):
    srv = server.Server(str(tmp_path / "s.sock"), 60)
    assert _answer(srv, {"op": "status", "identity": {**protocol.identity(), "python": "/other"}}) == {"stale": True}
    srv = server.Server(str(tmp_path / "s.sock"), 60)
    good = {"op": "run", "identity": protocol.identity(), "command": "tsa", "argv": ["--help"], "cwd": str(ROOT),
            "env": dict(os.environ)}
    for bad in ({"command": "rm"}, {"argv": "--help"}, {"cwd": None}, {"env": {"A": 1}}, {"env": ["A=1"]}):
        srv = server.Server(str(tmp_path / "s.sock"), 60)
        reply = _answer(srv, {**good, **bad})
        assert reply["rc"] == 2 and reply["stderr"].startswith("error: daemon: bad request ")
    reply = _answer(server.Server(str(tmp_path / "s.sock"), 60), good)
    assert reply["rc"] == 0 and "usage:" in reply["stdout"]


def test_frames_are_json_both_ways_and_anything_else_is_a_protocol_error():
    message = {"argv": ["é", "\udcff"], "rc": 1, "ok": True, "none": None, "env": {"B": "2", "A": "1"}}
    assert json.loads(protocol.dumps(message)) == message
    assert protocol.dumps({"b": 1, "a": 2}) == json.dumps({"b": 1, "a": 2}, sort_keys=True)   # the socket's name
    assert protocol.loads(protocol.dumps(message)) == message
    (c_encode, c_scan), (py_encode, py_scan) = protocol.c_codec(), protocol.py_codec()
    assert "".join(c_encode(message, 0)) == "".join(py_encode(message, 0))       # without _json: the same frames
    assert c_scan('{"a": [1, 2.5]} ', 0) == py_scan('{"a": [1, 2.5]} ', 0) == ({"a": [1, 2.5]}, 15)
    for bad in ("", "{", '{"a": }', '{"a": 1} x', '"unterminated'):
        with pytest.raises(protocol.ProtocolError, match="^not a message: "):
            protocol.loads(bad)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall((3).to_bytes(8, "big") + b"[1]")
        with pytest.raises(protocol.ProtocolError, match="expected a JSON object"):
            protocol.receive(ours)


def test_the_client_imports_neither_the_analyzers_nor_re(env):
    """Its start is paid by every run: json and socket would bring re and enum (~20 ms here)."""
    code = ("import sys, checks.daemon.__main__; print(sorted(m for m in sys.modules "
            "if m in ('re', 'enum', 'json', 'socket') or m.startswith('analyzers')))")
    got = subprocess.run([sys.executable, "-S", "-c", code], env={**env, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert got.returncode == 0 and got.stdout.strip() == "[]", got.stderr


def test_a_deferred_write_that_fails_is_a_warning_in_the_log_and_the_server_goes_on(tmp_path, monkeypatch, capsys):
    from analyzers import cache
    monkeypatch.setattr(cache, "_LATER", None)
    cache.defer_writes()
    cache.ParseCache(tmp_path).put("state", lambda: None, later=True)    # a value pickle refuses
    srv = server.Server(str(tmp_path / "s.sock"), 60)
    assert _answer(srv, {"op": "status", "identity": protocol.identity()})["status"]["requests"] == 0
    assert "warning: mps-verify daemon: a cache entry was not written" in capsys.readouterr().err
    assert cache._LATER == {} and not list((tmp_path / "structural").glob("*/state.pickle"))
    assert _answer(srv, {"op": "status", "identity": protocol.identity()})["status"]["requests"] == 0
