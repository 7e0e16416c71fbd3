"""Trace validation: replay a batcher's event log (runtime_tests/batcher.py EventLog) in TLC against
specs/BatchQueue.tla through runtime_tests/tla/BatchQueueTrace.tla, and name the first event the model
cannot explain."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from checks.cli import ToolMissing, UsageError
from checks.specs import messages, tlc, verdict
from checks.specs.manifest import RunOptions
from runtime_tests.rounds import REPO_ROOT

MODEL = REPO_ROOT / "specs" / "BatchQueue.tla"
TRACE_SPEC = Path(__file__).with_name("tla") / "BatchQueueTrace.tla"
EVENTS = {"submit": ("c", "n"), "reject": ("c",), "take": ("reqs",), "answer": ("reqs", "got"),
          "receive": ("c", "n"), "shutdown": (), "stop": (), "reject_queued": ("reqs",)}
_UNEXPLAINED = re.compile(r'<<"unexplained event", (\d+)>>')
TIMEOUT_S = 3600.0


@dataclass
class Log:
    """A parsed event log: max batch, events in clock order, and where it came from."""

    max_batch: int
    events: list[dict[str, Any]]
    source: str
    total: int  # events in the whole file (more than len(events) when read with a limit)


@dataclass
class Validation:
    """What TLC said about one log."""

    events: int
    verdict: str                  # matched | unexplained
    first_unexplained: str | None  # "event 37 (clock 41): answer ..." when unexplained
    index: int | None             # 1-based position of that event
    seconds: float                # TLC's wall time (JVM start included)
    distinct: int | None


def _lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            yield from f
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the event log ({exc})") from exc


def _pair(value: Any, where: str) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise UsageError(f"{where}: a request id must be [client, n], got {value!r}")
    return value[0], value[1]


def read_log(path: Path, limit: int | None = None) -> Log:
    """Parse and check a JSON-lines event log (the first `limit` events when given); UsageError if malformed."""
    events: list[dict[str, Any]] = []
    header: dict[str, Any] | None = None
    total = 0
    for number, line in enumerate(_lines(path), 1):
        where = f"{path}:{number}"
        if not line.strip():
            continue
        if limit is not None and len(events) >= limit:
            total += 1  # past the limit: only counted
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: not JSON ({exc.msg})") from None
        if header is None:
            if not isinstance(doc, dict) or doc.get("log") != "batchqueue" or not isinstance(doc.get("max_batch"), int):
                raise UsageError(f"{where}: not a batcher event log (first line must be "
                                 '{"log": "batchqueue", "max_batch": N})')
            header = doc
            continue
        kind = doc.get("event") if isinstance(doc, dict) else None
        if kind not in EVENTS or not isinstance(doc.get("clock"), int):
            raise UsageError(f"{where}: unknown event {kind!r} (known: {', '.join(EVENTS)})")
        missing = [k for k in EVENTS[kind] if k not in doc]
        if missing:
            raise UsageError(f"{where}: {kind} event lacks {', '.join(missing)}")
        for key in ("reqs", "got"):
            if key in doc:
                if not isinstance(doc[key], list):
                    raise UsageError(f"{where}: {key} must be a list of [client, n]")
                doc[key] = [_pair(v, where) for v in doc[key]]
        doc["line"] = number
        events.append(doc)
        total += 1
    if header is None:
        raise UsageError(f"{path}: empty event log")
    if not events:
        raise UsageError(f"{path}: the event log has no events")
    clocks = [e["clock"] for e in events]
    if clocks != sorted(clocks):
        raise UsageError(f"{path}: events are not in clock order")
    return Log(header["max_batch"], events, str(path), total)


def describe(event: dict[str, Any]) -> str:
    """One event as people read it."""
    fields = ", ".join(f"{k}={v}" for k, v in event.items() if k not in ("event", "clock", "line"))
    return f"{event['event']} (clock {event['clock']}, line {event['line']}{': ' + fields if fields else ''})"


def _tla(value: Any) -> str:
    if isinstance(value, tuple):
        return "<<" + ", ".join(_tla(v) for v in value) + ">>"
    if isinstance(value, list):
        return "<<" + ", ".join(_tla(v) for v in value) + ">>"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def to_tla(log: Log) -> tuple[str, dict[str, Any]]:
    """The BatchQueueTraceLog module and the model's constants: threads renumbered 1..C in order of
    appearance, requests as the model's <<c, n>>."""
    clients: dict[int, int] = {}

    def c(thread: int) -> int:
        return clients.setdefault(thread, len(clients) + 1)

    def req(r: tuple[int, int]) -> tuple[int, int]:
        return (c(r[0]), r[1])

    rows, most = [], 1
    for e in log.events:
        fields: dict[str, Any] = {"e": e["event"]}
        if "c" in e:
            fields["c"] = c(e["c"])
        if "n" in e:
            fields["n"] = e["n"]
            most = max(most, e["n"])
        for key in ("reqs", "got"):
            if key in e:
                fields[key] = [req(r) for r in e[key]]
                most = max([most, *(r[1] for r in e[key])])
        rows.append("[" + ", ".join(f"{k} |-> {_tla(v)}" for k, v in fields.items()) + "]")
    module = ("---- MODULE BatchQueueTraceLog ----\nEXTENDS Sequences\nTraceLog == <<\n"
              + ",\n".join(rows) + "\n>>\n====\n")
    return module, {"NumClients": max(1, len(clients)), "Reqs": most, "MaxBatch": log.max_batch}


def _cfg(constants: dict[str, Any]) -> str:
    lines = ["CONSTANTS", *[f"    {k} = {v}" for k, v in constants.items()], '    Variant = "graceful"',
             "INIT TraceInit", "NEXT TraceNext"]
    return "\n".join(lines) + "\n"


def validate(log: Log, keep: Path | None = None, timeout: float = TIMEOUT_S) -> Validation:
    """Run TLC on the log's trace spec; `keep` is a folder for the generated modules and TLC's output."""
    module, constants = to_tla(log)
    with tempfile.TemporaryDirectory(prefix="mpsv-trace-") as tmp:
        folder = Path(tmp)
        shutil.copy(MODEL, folder / MODEL.name)
        shutil.copy(TRACE_SPEC, folder / TRACE_SPEC.name)
        (folder / "BatchQueueTraceLog.tla").write_text(module, encoding="utf-8")
        (folder / "BatchQueueTrace.cfg").write_text(_cfg(constants), encoding="utf-8")
        out_path = folder / "tlc.out"
        run = tlc.invoke(folder, "BatchQueueTrace", "BatchQueueTrace.cfg", RunOptions(timeout=timeout), out_path)
        text = out_path.read_text(encoding="utf-8", errors="replace")
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for name in ("BatchQueueTraceLog.tla", "BatchQueueTrace.cfg", "tlc.out"):
                shutil.copy(folder / name, keep / name)
        try:
            return judge(log, text, run)
        except UsageError as exc:  # keep TLC's output for whoever reads the error
            saved = keep / "tlc.out" if keep is not None else Path(tempfile.mkstemp(prefix="mpsv-trace-tlc-",
                                                                                    suffix=".out")[1])
            if keep is None:
                shutil.copy(out_path, saved)
            raise UsageError(f"{exc} (TLC's output: {saved})") from None


def judge(log: Log, text: str, run: tlc.Invocation) -> Validation:
    """matched: exit 0, 'No error' and one distinct state per event plus the initial one; unexplained:
    the Assert naming the first unexplained event; anything else is TLC failing (UsageError)."""
    out = messages.parse(text)
    codes = out.codes()
    distinct = verdict.counts(out)["distinct"]  # the final count, else the last progress report
    n = len(log.events)
    if run.rc == 0 and 2193 in codes and distinct == n + 1:
        return Validation(n, "matched", None, None, run.seconds, distinct)
    found = _UNEXPLAINED.search(text)
    if run.rc == 75 and found:
        index = int(found.group(1))
        event = log.events[index - 1]
        return Validation(n, "unexplained", f"event {index} of {n}: {describe(event)}", index, run.seconds, distinct)
    outcome = verdict.judge(out, run.rc, timed_out=run.timed_out, timeout=TIMEOUT_S)
    raise UsageError(f"{log.source}: TLC could not finish the check after {run.seconds:.0f} s ({outcome.kind}: "
                     f"{outcome.detail or outcome.result}; {distinct} distinct states for {n} events); a long log "
                     "needs a larger Java heap (JAVA_TOOL_OPTIONS=-Xmx...) or --limit")


def java_available() -> bool:
    """Whether Java and TLC's jar are there (validation needs both)."""
    from checks import tools

    try:
        tools.java()
        tools.tla2tools_jar()
    except ToolMissing:
        return False
    return True
