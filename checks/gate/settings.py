"""The gate's settings come from the base revision: a pull request cannot loosen the rules it is judged by.

Settings files and the baseline are read from git objects of the base commit (never the checkout, which
is the pull request's); the same files at the head commit are only compared, and every difference is
reported (blocking with --strict).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzers.hierarchy import REPO_FILE as HIERARCHY_FILE
from checks.cli import UsageError
from checks.config import CONFIG_NAMES, MAX_INPUT_BYTES, has_tool_table, parse_config, read_input


@dataclass
class RevisionFile:
    """A file as stored at one revision ('' path when absent)."""

    path: str = ""
    data: bytes | None = None


@dataclass
class GateSettings:
    """What the gate runs with (from the base) and what the pull request changed in it."""

    config: dict[str, Any] = field(default_factory=dict)
    source: str = ""                       # where the settings came from, for messages
    baseline: bytes | None = None          # the baseline's content at the base (or from outside the repo)
    baseline_name: str = ""
    changes: list[str] = field(default_factory=list)


def blob(repo: Path, rev: str, path: str) -> bytes | None:
    """The content of `path` at `rev` (None when it is not a regular file there); refuses huge blobs."""
    spec = f"{rev}:{path}"
    kind = subprocess.run(["git", "-C", str(repo), "cat-file", "-t", spec], capture_output=True, text=True)
    if kind.returncode != 0 or kind.stdout.strip() != "blob":
        return None
    mode = subprocess.run(["git", "-C", str(repo), "ls-tree", "--full-tree", rev, "--", path],
                          capture_output=True, text=True)
    if mode.stdout.startswith("120000"):
        return None       # a symbolic link's blob is its target's name, not settings
    size = subprocess.run(["git", "-C", str(repo), "cat-file", "-s", spec], capture_output=True, text=True)
    if int(size.stdout.strip() or 0) > MAX_INPUT_BYTES:
        raise UsageError(f"{spec}: over the {MAX_INPUT_BYTES}-byte limit for settings")
    return subprocess.run(["git", "-C", str(repo), "cat-file", "blob", spec], capture_output=True).stdout


def _in_repo(repo: Path, path: Path) -> str | None:
    """`path` relative to the repository (posix), or None when it lies outside it."""
    try:
        return (path if path.is_absolute() else Path.cwd() / path).resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return None


def config_file(repo: Path, rev: str, explicit: Path | None) -> RevisionFile:
    """The settings file at `rev`: the explicit --config (read from `rev` when inside the repository,
    from disk otherwise), else the first of CONFIG_NAMES at the repository root that has settings."""
    if explicit is not None:
        rel = _in_repo(repo, explicit)
        if rel is None:
            return RevisionFile(str(explicit), read_input(explicit, "config"))
        return RevisionFile(rel, blob(repo, rev, rel))
    for name in CONFIG_NAMES:
        data = blob(repo, rev, name)
        if data is None:
            continue
        if name == "pyproject.toml" and not has_tool_table(data.decode("utf-8", "replace")):
            continue
        return RevisionFile(name, data)
    return RevisionFile()


def load(repo: Path, base: str, head: str, explicit_config: Path | None, explicit_baseline: Path | None) -> GateSettings:
    """Settings and baseline from `base`; the differences at `head` listed as changes."""
    before, after = config_file(repo, base, explicit_config), config_file(repo, head, explicit_config)
    if explicit_config is not None and before.data is None:
        raise UsageError(f"--config {explicit_config}: not a file at the base revision {base[:12]}")
    config = parse_config(before.data, f"{before.path} (at {base[:12]})") if before.data is not None else {}
    out = GateSettings(config, f"{before.path} at {base[:12]}" if before.path else "defaults")
    if (before.path, before.data) != (after.path, after.data):
        theirs = _quiet_parse(after)
        for name in sorted(set(config) | set(theirs)):
            if config.get(name) != theirs.get(name):
                out.changes.append(f"settings [{name}] differ at head ({after.path or 'removed'}); "
                                   f"the base's are used")
        if not out.changes:
            out.changes.append(f"settings file {after.path or before.path} changed (no setting differs)")
    if blob(repo, base, HIERARCHY_FILE) != blob(repo, head, HIERARCHY_FILE):
        out.changes.append(f"lock hierarchy {HIERARCHY_FILE} differs at head; the base's is used")
    gate = config.get("gate", {}) if isinstance(config.get("gate"), dict) else {}
    if explicit_baseline is not None:
        rel = _in_repo(repo, explicit_baseline)
        out.baseline_name = str(explicit_baseline)
        if rel is None:
            out.baseline = read_input(explicit_baseline, "baseline")
        else:
            out.baseline, theirs_baseline = blob(repo, base, rel), blob(repo, head, rel)
            if out.baseline is None:
                raise UsageError(f"--baseline {explicit_baseline}: not a file at the base revision {base[:12]}")
            if theirs_baseline != out.baseline:
                out.changes.append(f"baseline {rel} differs at head; the base's is used")
    elif gate.get("baseline"):
        rel = str(gate["baseline"]).lstrip("/")
        out.baseline_name = rel
        out.baseline = blob(repo, base, rel)
        if out.baseline is None:
            raise UsageError(f"baseline {rel} (gate.baseline in {out.source}): not a file at the base revision")
        if blob(repo, head, rel) != out.baseline:
            out.changes.append(f"baseline {rel} differs at head; the base's is used")
    return out


def _quiet_parse(f: RevisionFile) -> dict[str, Any]:
    """The head's settings for comparison only: unreadable ones count as different, not as an error."""
    if f.data is None:
        return {}
    try:
        return parse_config(f.data, f.path)
    except UsageError:
        return {"<unreadable>": f.path}
