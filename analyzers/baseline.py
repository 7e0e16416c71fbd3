"""Baselines: the fingerprints of accepted findings, so a run reports only new ones.

File format (JSON): {"version": 1, "tool": {...}, "fingerprints": [{"fingerprint", "rule", "path",
"message"}, ...]}; rule/path/message are there for people reading the file, only the fingerprint
(line-independent: rule, file, function, anchor) is matched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analyzers.findings import Finding
from mpsverify_base.config import read_text      # regular files of bounded size only (baselines may come from a PR)
from mpsverify_base.errors import UsageError

VERSION = 1


def dump(findings: list[Finding], tool: dict[str, Any]) -> str:
    """The baseline document for `findings`."""
    rows = sorted({f.fingerprint: {"fingerprint": f.fingerprint, "rule": f.rule, "path": f.path,
                                   "message": f.message} for f in findings}.values(),
                  key=lambda r: (r["path"], r["rule"], r["fingerprint"]))
    return json.dumps({"version": VERSION, "tool": tool, "fingerprints": rows}, indent=2, ensure_ascii=False) + "\n"


def write(path: Path, findings: list[Finding], tool: dict[str, Any]) -> None:
    """Write a baseline file (one-line error when it cannot be written)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(findings, tool), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write baseline {path}: {exc.strerror}") from exc


def load(path: Path) -> set[str]:
    """The fingerprints listed in a baseline file."""
    try:
        data = json.loads(read_text(path, "baseline"))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise UsageError(f"{path}: not a baseline (invalid JSON: {' '.join(str(exc).split())[:120]})") from exc
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("fingerprints"), list):
        raise UsageError(f"{path}: not a baseline written by --write-baseline (version {VERSION})")
    prints = set()
    for n, row in enumerate(data["fingerprints"]):
        fp = row.get("fingerprint") if isinstance(row, dict) else row
        if not isinstance(fp, str) or not fp:
            raise UsageError(f"{path}: fingerprints[{n}] has no fingerprint")
        prints.add(fp)
    return prints


def apply(findings: list[Finding], prints: set[str]) -> tuple[list[Finding], int]:
    """(findings not in the baseline, how many were dropped); a baseline written before anchors dropped
    receivers still matches through the legacy fingerprint."""
    kept = [f for f in findings if f.fingerprint not in prints and f.legacy_fingerprint not in prints]
    return kept, len(findings) - len(kept)
