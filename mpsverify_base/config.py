"""Settings from the analysed repository: `[tool.mps-verify]` in pyproject.toml or `mps-verify.yaml`."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml

from mpsverify_base.errors import UsageError

CONFIG_NAMES = ("mps-verify.yaml", "mps-verify.yml", "pyproject.toml")
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml: about 10x faster when present


def read_yaml(path: Path, what: str) -> Any:
    """Parse a YAML file safely; an unreadable or malformed file is a one-line UsageError naming `what`."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid YAML: {' '.join(str(exc).split())[:200]}") from exc


def find_config(start: Path) -> Path | None:
    """Return the nearest config file at or above `start`, or None."""
    start = start.resolve()
    for folder in [start if start.is_dir() else start.parent, *start.parents]:
        for name in CONFIG_NAMES:
            candidate = folder / name
            if candidate.is_file() and (name != "pyproject.toml" or _has_tool_table(candidate)):
                return candidate
        if (folder / ".git").exists():
            break
    return None


def _has_tool_table(path: Path) -> bool:
    try:
        return "mps-verify" in tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False


def load_config(path: Path | None, start: Path | None = None) -> dict[str, Any]:
    """Load settings from an explicit file, or the nearest one above `start`; {} when there is none."""
    if path is None and start is not None:
        path = find_config(start)
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text).get("tool", {}).get("mps-verify", {})
        else:
            data = yaml.safe_load(text) or {}
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: not valid {path.suffix.lstrip('.')}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path}: settings must be a mapping, got {type(data).__name__}")
    return data


def section(config: dict[str, Any], name: str) -> dict[str, Any]:
    """Return one tool's section of the settings (e.g. 'structural'), checked to be a mapping."""
    value = config.get(name, {})
    if not isinstance(value, dict):
        raise UsageError(f"config: [{name}] must be a mapping")
    return value
