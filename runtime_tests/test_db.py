"""The results database: migrations keep old data, WAL lets two processes write at once."""

import sqlite3
import subprocess
import sys

import pytest

from runtime_tests import db
from runtime_tests.rounds import REPO_ROOT, RoundResult

pytestmark = pytest.mark.quick

WRITER = """
import sys
from runtime_tests import db
from runtime_tests.rounds import RoundResult
conn = db.connect(__import__("pathlib").Path(sys.argv[1]))
run = db.start_run(conn, "quick", "cpu", {"writer": sys.argv[2]})
for i in range(int(sys.argv[3])):
    db.add_round(conn, run, sys.argv[2], "mlp", 4, 10, RoundResult("pass", 0, 0.01, i))
    db.add_measurements(conn, run, "mlp", [{"kind": "scaling", "param": 1, "rep": i, "metric": "ops_per_s", "value": i}])
"""


def test_new_database_is_at_the_current_version_in_wal_mode(tmp_path):
    conn = db.connect(tmp_path / "r.db")
    assert db.schema_version(conn) == db.SCHEMA_VERSION == 3
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == db.BUSY_TIMEOUT_MS


def test_migration_from_version_1_keeps_the_rows(tmp_path):
    path = tmp_path / "old.db"
    old = db.connect(path, target=1)
    run = db.start_run(old, "quick", "cpu", {})
    old.execute("INSERT INTO rounds (run_id, config, workload, threads, outcome, duration_s, created) "
                "VALUES (?, 'native_threads', 'mlp', 4, 'pass', 1.0, 0)", (run,))
    with pytest.raises(sqlite3.OperationalError):
        old.execute("SELECT sprt FROM rounds")
    old.close()
    conn = db.connect(path)
    assert db.schema_version(conn) == db.SCHEMA_VERSION
    assert [tuple(r) for r in conn.execute("SELECT config, sprt, inferences FROM rounds")] == [
        ("native_threads", None, None)]
    assert conn.execute("SELECT COUNT(*) FROM crosschecks").fetchone()[0] == 0


def test_a_database_from_a_newer_tool_is_refused(tmp_path):
    conn = db.connect(tmp_path / "r.db")
    conn.execute("INSERT INTO schema_version (version) VALUES (99)")
    conn.close()
    with pytest.raises(ValueError, match="newer"):
        db.connect(tmp_path / "r.db")


def test_two_processes_write_at_once(tmp_path):
    path = tmp_path / "shared.db"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, "150"], cwd=REPO_ROOT,
                              stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    conn = db.connect(path)
    assert [tuple(r) for r in conn.execute("SELECT config, COUNT(*) FROM rounds GROUP BY config ORDER BY config")] \
        == [("a", 150), ("b", 150)]
    assert conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 300
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2


def test_round_rows_carry_what_the_child_saw(tmp_path):
    conn = db.connect(tmp_path / "r.db")
    run = db.start_run(conn, "quick", "cpu", {})
    result = RoundResult("signal:SIGSEGV", -11, 2.0, 77, "boom", {"seen": {"torch": "2.13"}},
                         [{"pid": 77, "signal": "SIGSEGV"}])
    db.add_round(conn, run, "native_threads", "mlp", 4, 10, result, "continue")
    row = conn.execute("SELECT * FROM rounds").fetchone()
    assert (row["outcome"], row["returncode"], row["pid"], row["sprt"]) == ("signal:SIGSEGV", -11, 77, "continue")
    assert '"torch": "2.13"' in row["seen"] and "SIGSEGV" in row["crash_reports"]
    assert db.latest_run(conn) == run
