"""Settings from the analysed repository: `[tool.mps-verify]` in pyproject.toml or `mps-verify.yaml`.

Settings files, baselines, hierarchies and minimum counts may come from code under review, so they are
read defensively: only regular files up to MAX_INPUT_BYTES, YAML without alias bombs or deep nesting,
and every key and type checked against SCHEMA (a one-line error naming the file and the key).
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from typing import Any

from mpsverify_base.errors import UsageError

CONFIG_NAMES = ("mps-verify.yaml", "mps-verify.yml", "pyproject.toml")
MAX_INPUT_BYTES = 16 * 1024 * 1024     # config-like inputs (settings, baselines, hierarchies) larger are refused
MAX_YAML_NODES = 200_000               # nodes after expanding aliases: a billion-laughs document has ~10^9
MAX_NESTING = 64                       # mappings/lists inside each other (real settings: 3)

STR_LIST = "a list of strings"
# section -> key -> expected type (`STR_LIST`, or a Python type); unknown keys are warned about.
SCHEMA: dict[str, dict[str, Any]] = {
    "structural": {"rules": STR_LIST, "exclude": STR_LIST, "baseline": str},
    "gate": {"paths": STR_LIST, "strict": bool, "baseline": str},
    "tsa": {"prefixes": STR_LIST, "exclude": STR_LIST, "clang_args": STR_LIST, "baseline": str,
            "min_counts": str, "beta": bool},
    "lockgraph": {"depth": int, "hierarchy": str},
    "specs": {"timeout": (int, float), "jobs": int},
}


def read_input(path: Path, what: str, limit: int | None = None) -> bytes:
    """The bytes of a regular file; FIFOs, devices, sockets and files over `limit` (default MAX_INPUT_BYTES)
    are a one-line UsageError."""
    limit = MAX_INPUT_BYTES if limit is None else limit
    try:
        info = path.stat()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{what} {path}: not a regular file")
    if info.st_size > limit:
        raise UsageError(f"{what} {path}: {info.st_size} bytes, over the {limit}-byte limit")
    try:
        with path.open("rb") as fh:
            # read(limit + 1) would allocate the whole limit (16 MiB) for every small file first
            data = fh.read(min(info.st_size, limit) + 1)
            return data + fh.read(limit + 1 - len(data)) if len(data) > info.st_size else data
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from exc


def read_text(path: Path, what: str) -> str:
    """A regular file as UTF-8 text (see read_input); other encodings are a one-line UsageError."""
    try:
        return read_input(path, what).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: {what} is not UTF-8 (byte {exc.start})") from exc


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML safely: no tags, no alias expansion beyond MAX_YAML_NODES, nesting up to MAX_NESTING."""
    import yaml      # here: a run whose YAML inputs are all cached (analyzers.cache.parsed) never needs it (~10 ms)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)     # libyaml: about 10x faster when present
    try:
        node = yaml.compose(text, Loader=loader)
        if node is None:
            return None
        _check_size(node, source)
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise UsageError(f"{source}: not valid YAML: {' '.join(str(exc).split())[:200]}") from exc
    except RecursionError as exc:
        raise UsageError(f"{source}: nested too deeply") from exc


def _check_size(root, source: str) -> None:
    """Count the nodes the document expands to (aliases count each time they are used) and its depth."""
    import yaml
    seen = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > MAX_YAML_NODES:
            raise UsageError(f"{source}: YAML expands to more than {MAX_YAML_NODES} values (alias bomb?)")
        if depth > MAX_NESTING:
            raise UsageError(f"{source}: YAML nested deeper than {MAX_NESTING} levels")
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend((part, depth + 1) for pair in node.value for part in pair)


def read_yaml(path: Path, what: str) -> Any:
    """Parse a YAML file safely; an unreadable, oversized or malformed file is a one-line UsageError naming `what`."""
    return parse_yaml(read_text(path, what), str(path))


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
        return has_tool_table(read_input(path, "pyproject.toml").decode("utf-8"))
    except (UsageError, UnicodeDecodeError):
        return False


def has_tool_table(text: str) -> bool:
    """Whether pyproject.toml text has a [tool.mps-verify] table (False when it is not valid TOML)."""
    if "mps-verify" not in text:      # most projects' pyproject.toml: no TOML parser to import
        return False
    import tomllib
    try:
        tool = tomllib.loads(text).get("tool", {})
    except (tomllib.TOMLDecodeError, RecursionError):
        return False
    return isinstance(tool, dict) and "mps-verify" in tool


def parse_config(data: bytes, source: str) -> dict[str, Any]:
    """Settings from the bytes of a config file named `source` (.toml: the [tool.mps-verify] table), checked."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{source}: not UTF-8 (byte {exc.start})") from exc
    if source.endswith(".toml"):
        import tomllib
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{source}: not valid TOML: {str(exc).splitlines()[0]}") from exc
        except RecursionError as exc:
            raise UsageError(f"{source}: nested too deeply") from exc
        tool = doc.get("tool", {})
        data_ = tool.get("mps-verify", {}) if isinstance(tool, dict) else {}
    else:
        data_ = parse_yaml(text, source) or {}
    if not isinstance(data_, dict):
        raise UsageError(f"{source}: settings must be a mapping, got {type(data_).__name__}")
    return validate(data_, source)


def validate(config: dict[str, Any], source: str) -> dict[str, Any]:
    """Check every known section's keys and value types; warn (stderr) about unknown sections and keys."""
    for name, value in config.items():
        schema = SCHEMA.get(name)
        if schema is None:
            print(f"warning: {source}: unknown section {name!r} ignored (known: {', '.join(SCHEMA)})",
                  file=sys.stderr)
            continue
        if not isinstance(value, dict):
            raise UsageError(f"{source}: [{name}] must be a mapping, got {type(value).__name__}")
        for key, item in value.items():
            want = schema.get(key)
            if want is None:
                print(f"warning: {source}: unknown key {name}.{key} ignored (known: {', '.join(schema)})",
                      file=sys.stderr)
                continue
            _check_type(item, want, f"{source}: {name}.{key}")
    return config


def _check_type(value: Any, want: Any, where: str) -> None:
    if want == STR_LIST:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{where} must be {STR_LIST}, got {_shown(value)}")
        return
    kinds = want if isinstance(want, tuple) else (want,)
    # bool is an int in Python, and 'false' as a string must not pass for a boolean
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join("a boolean (true/false)" if k is bool else k.__name__ for k in kinds)
        raise UsageError(f"{where} must be {names}, got {_shown(value)}")


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def str_list(value: Any) -> list[str]:
    """A validated STR_LIST setting as a list (absent: [])."""
    return list(value or [])


def load_config(path: Path | None, start: Path | None = None) -> dict[str, Any]:
    """Load settings from an explicit file, or the nearest one above `start`; {} when there is none."""
    if path is None and start is not None:
        path = find_config(start)
    if path is None:
        return {}
    return parse_config(read_input(path, "config"), str(path))


def section(config: dict[str, Any], name: str) -> dict[str, Any]:
    """Return one tool's section of the settings (e.g. 'structural'), checked to be a mapping."""
    value = config.get(name, {})
    if not isinstance(value, dict):
        raise UsageError(f"config: [{name}] must be a mapping")
    return value
