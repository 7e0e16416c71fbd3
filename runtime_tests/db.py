"""The results database (SQLite): runs, rounds, measurements; versioned schema with migrations; WAL
and a busy timeout so several processes can write at once."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

DEFAULT_DB = Path(".mps-verify/results.db")
BUSY_TIMEOUT_MS = 30_000

# Migration i brings the schema from version i to i+1; never edit one that has shipped, append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started REAL NOT NULL,
        finished REAL,
        plan TEXT NOT NULL,
        device TEXT NOT NULL,
        environment TEXT NOT NULL          -- JSON: git, torch, OS, device name, python
    );
    CREATE TABLE rounds (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        config TEXT NOT NULL,
        workload TEXT NOT NULL,
        threads INTEGER NOT NULL,
        iterations INTEGER,
        outcome TEXT NOT NULL,             -- pass | mismatch | exception | signal:NAME | hang
        returncode INTEGER,
        duration_s REAL NOT NULL,
        pid INTEGER,
        detail TEXT,
        seen TEXT,                         -- JSON: what the child saw
        crash_reports TEXT,                -- JSON: summaries of macOS .ips reports
        created REAL NOT NULL
    );
    CREATE TABLE measurements (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        kind TEXT NOT NULL,                -- scaling | batching | batcher | soak
        workload TEXT NOT NULL,
        param TEXT NOT NULL,               -- thread count, batch size or mode
        rep INTEGER NOT NULL,              -- -1 for values pooled over repetitions
        metric TEXT NOT NULL,
        value REAL NOT NULL
    );
    """,
    """
    CREATE TABLE crosschecks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        config TEXT NOT NULL,
        model TEXT,
        expect TEXT,
        verdict TEXT NOT NULL,             -- agrees | contradiction | inconclusive | not applicable | unknown
        reason TEXT NOT NULL
    );
    ALTER TABLE rounds ADD COLUMN sprt TEXT;  -- sequential decision after this round, when used
    CREATE INDEX rounds_run ON rounds(run_id, config);
    CREATE INDEX measurements_run ON measurements(run_id, kind, workload);
    """,
    """
    ALTER TABLE rounds ADD COLUMN inferences INTEGER;   -- inferences run (NULL: the child died first)
    ALTER TABLE rounds ADD COLUMN wrong INTEGER;        -- of those, results off the CPU reference
    ALTER TABLE rounds ADD COLUMN max_error REAL;       -- largest |result - reference| seen in the round
    ALTER TABLE measurements ADD COLUMN proc INTEGER NOT NULL DEFAULT 0;  -- which of the --repeat processes
    CREATE TABLE trace_validations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        source TEXT NOT NULL,              -- which round or soak wrote the log
        events INTEGER NOT NULL,
        verdict TEXT NOT NULL,             -- matched | unexplained | not validated
        first_unexplained TEXT,            -- the first log event the model cannot explain
        seconds REAL,                      -- TLC's wall time
        detail TEXT
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0 for a new file)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the migrations missing up to `target`, each in its own transaction; returns the version."""
    conn.execute("BEGIN IMMEDIATE")  # one migrating process at a time
    try:
        version = schema_version(conn)
        if version > SCHEMA_VERSION:
            raise ValueError(f"database schema version {version} is newer than this tool ({SCHEMA_VERSION})")
        for number in range(version, target):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number + 1,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return max(version, target)


def _setup(conn: sqlite3.Connection, target: int) -> None:
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn, target)


def connect(path: Path, target: int = SCHEMA_VERSION) -> sqlite3.Connection:
    """Open (creating and migrating) the results database in WAL mode with a busy timeout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    # Switching a new file to WAL needs an exclusive lock, and SQLite can answer "locked" at once, without
    # the busy handler, while another process opens the same new file: retry this set-up step only.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            _setup(conn, target)
            return conn
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> int:
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    return int(conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(row.values())).lastrowid)


def start_run(conn: sqlite3.Connection, plan: str, device: str, environment: dict[str, Any]) -> int:
    """Record a new run; returns its id."""
    return _insert(conn, "runs", {"started": time.time(), "plan": plan, "device": device,
                                  "environment": json.dumps(environment)})


def extend_run(conn: sqlite3.Connection, run_id: int, extra: dict[str, Any]) -> bool:
    """Merge `extra` into an existing run's environment (a later command adding to it); False if no such run."""
    row = conn.execute("SELECT environment FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        return False
    conn.execute("UPDATE runs SET environment = ? WHERE id = ?",
                 (json.dumps({**json.loads(row[0]), **extra}), run_id))
    return True


def next_proc(conn: sqlite3.Connection, run_id: int) -> int:
    """The first measuring-process index not yet used in a run (appended measurements continue it)."""
    row = conn.execute("SELECT MAX(proc) FROM measurements WHERE run_id = ?", (run_id,)).fetchone()
    return 0 if row[0] is None else int(row[0]) + 1


def finish_run(conn: sqlite3.Connection, run_id: int) -> None:
    """Mark a run finished."""
    conn.execute("UPDATE runs SET finished = ? WHERE id = ?", (time.time(), run_id))


def add_round(conn: sqlite3.Connection, run_id: int, config: str, workload: str, threads: int,
              iterations: int | None, result: Any, sprt: str | None = None) -> int:
    """Record one round (a rounds.RoundResult)."""
    return _insert(conn, "rounds", {
        "run_id": run_id, "config": config, "workload": workload, "threads": threads,
        "iterations": iterations, "outcome": result.outcome, "returncode": result.returncode,
        "duration_s": result.duration_s, "pid": result.pid, "detail": result.detail[-2000:],
        "seen": json.dumps(result.doc.get("seen", {})), "crash_reports": json.dumps(result.crash_reports),
        "created": time.time(), "sprt": sprt, "inferences": result.doc.get("inferences"),
        "wrong": result.doc.get("wrong"), "max_error": result.doc.get("max_error")})


def add_measurements(conn: sqlite3.Connection, run_id: int, workload: str, rows: Iterable[dict[str, Any]],
                     proc: int = 0) -> None:
    """Record measurement rows {kind, param, rep, metric, value} of measuring process `proc` in one
    transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for r in rows:
            _insert(conn, "measurements", {"run_id": run_id, "workload": workload, "kind": r["kind"],
                                           "param": str(r["param"]), "rep": int(r["rep"]),
                                           "metric": r["metric"], "value": float(r["value"]), "proc": proc})
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def add_crosscheck(conn: sqlite3.Connection, run_id: int, check: Any) -> None:
    """Record one model cross-check (a crosscheck.CrossCheck)."""
    _insert(conn, "crosschecks", {"run_id": run_id, "config": check.config, "model": check.model,
                                  "expect": check.expect, "verdict": check.verdict, "reason": check.reason})


def pending_trace(conn: sqlite3.Connection, run_id: int, file_name: str) -> str | None:
    """The source of a log the run could not validate (no Java where it ran), removing that row so the
    later validation takes its place; None when there is none."""
    row = conn.execute("SELECT id, source FROM trace_validations WHERE run_id = ? AND verdict = 'not validated' "
                       "AND detail LIKE ?", (run_id, f"{file_name}:%")).fetchone()
    if row is None:
        return None
    conn.execute("DELETE FROM trace_validations WHERE id = ?", (row["id"],))
    return row["source"]


def add_trace_validation(conn: sqlite3.Connection, run_id: int, source: str, events: int, verdict: str,
                         first_unexplained: str | None, seconds: float | None, detail: str = "") -> None:
    """Record one trace validation of a batcher's event log against BatchQueue.tla."""
    _insert(conn, "trace_validations", {"run_id": run_id, "source": source, "events": events, "verdict": verdict,
                                        "first_unexplained": first_unexplained, "seconds": seconds,
                                        "detail": detail[-2000:]})


def latest_run(conn: sqlite3.Connection) -> int | None:
    """The id of the most recent run, or None."""
    row = conn.execute("SELECT MAX(id) FROM runs").fetchone()
    return row[0]
