"""macOS crash reports (.ips): find the ones a child produced and summarise them.

An .ips file is two JSON documents: one metadata line, then the body (pid, procName, exception,
faultingThread, threads with frames, usedImages). Reports arrive late and may be capped, so the return
code counts crashes and these reports only add detail.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

REPORT_DIRS = (Path.home() / "Library/Logs/DiagnosticReports", Path("/Library/Logs/DiagnosticReports"))


def parse_ips(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split an .ips file into (metadata, body); ValueError when it is not two JSON documents."""
    first, _, rest = text.partition("\n")
    try:
        meta = json.loads(first)
        body = json.loads(rest) if rest.strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"not an .ips crash report: {exc}") from exc
    if not isinstance(meta, dict) or not isinstance(body, dict):
        raise ValueError("not an .ips crash report: documents must be objects")
    return meta, body


def summarise(meta: dict[str, Any], body: dict[str, Any], top: int = 8) -> dict[str, Any]:
    """The facts worth keeping: process, pid, exception type/signal/subtype, the faulting thread's frames."""
    exception = body.get("exception") or {}
    images = body.get("usedImages") or []
    threads = body.get("threads") or []
    faulting = body.get("faultingThread")
    frames = []
    if isinstance(faulting, int) and 0 <= faulting < len(threads):
        for frame in (threads[faulting].get("frames") or [])[:top]:
            index = frame.get("imageIndex")
            image = images[index].get("name") if isinstance(index, int) and 0 <= index < len(images) else None
            frames.append(f"{image or '?'}`{frame.get('symbol', '?')}")
    return {
        "process": body.get("procName") or meta.get("app_name"),
        "pid": body.get("pid"),
        "timestamp": meta.get("timestamp"),
        "exception": exception.get("type"),
        "signal": exception.get("signal"),
        "subtype": exception.get("subtype"),
        "faulting_thread": faulting,
        "frames": frames,
    }


def harvest(pid: int, since: float, wait_s: float = 3.0, dirs: tuple[Path, ...] = REPORT_DIRS) -> list[dict[str, Any]]:
    """Summaries of .ips reports for `pid` written after `since` (epoch seconds), waiting up to `wait_s`."""
    deadline = time.time() + wait_s
    while True:
        found = []
        for folder in dirs:
            if not folder.is_dir():
                continue
            for path in folder.glob("*.ips"):
                try:
                    if path.stat().st_mtime < since:
                        continue
                    meta, body = parse_ips(path.read_text(encoding="utf-8", errors="replace"))
                except (OSError, ValueError):
                    continue
                if body.get("pid") == pid:
                    found.append({"file": str(path), **summarise(meta, body)})
        if found or time.time() >= deadline:
            return found
        time.sleep(0.25)
