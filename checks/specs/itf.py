"""Read an Apalache counterexample in the Informal Trace Format (ITF, `*.itf.json`) into a Trace.

ITF (Apalache ADR-015): `{"vars": [...], "states": [{"#meta": {...}, var: value, ...}], "loop": k?}`.
Values: JSON strings, booleans and integers, `{"#bigint": "N"}`, `{"#set": [...]}`, `{"#tup": [...]}`,
`{"#map": [[k, v], ...]}`, lists (TLA+ sequences), records as plain objects, variants as
`{"tag": T, "value": V}`, and `{"#unserializable": "text"}`. Values are rendered as TLA+ text the way
TLC prints them, so traces from both backends read alike. ITF names no actions: action is None.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

from checks.cli import UsageError
from checks.specs.outcome import Trace, TraceState

_BIGINT = re.compile(r"-?[0-9]+")


class ItfError(ValueError):
    """A value or trace that is not ITF; the message says where."""


def _string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _items(values: Any, where: str, key: str) -> list[Any]:
    if not isinstance(values, list):
        raise ItfError(f"{where}: {key} must hold a JSON array")
    return values


def _bigint(obj: dict[str, Any], where: str) -> str:
    text = obj["#bigint"]
    if not isinstance(text, str) or not _BIGINT.fullmatch(text):
        raise ItfError(f"{where}: #bigint must be a string of digits, got {text!r}")
    return str(int(text))


def _set(obj: dict[str, Any], where: str) -> str:
    items = _items(obj["#set"], where, "#set")
    return "{" + ", ".join(render(v, f"{where}[{i}]") for i, v in enumerate(items)) + "}"


def _tup(obj: dict[str, Any], where: str) -> str:
    items = _items(obj["#tup"], where, "#tup")
    return "<<" + ", ".join(render(v, f"{where}[{i}]") for i, v in enumerate(items)) + ">>"


def _map(obj: dict[str, Any], where: str) -> str:
    pairs = _items(obj["#map"], where, "#map")
    if not pairs:
        return "<<>>"   # the function with the empty domain, as TLC prints it
    parts = []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise ItfError(f"{where}: #map entry {i} must be a [key, value] pair")
        parts.append(f"{render(pair[0], f'{where}.key{i}')} :> {render(pair[1], f'{where}.value{i}')}")
    return "(" + " @@ ".join(parts) + ")"


def _unserializable(obj: dict[str, Any], where: str) -> str:
    text = obj["#unserializable"]
    if not isinstance(text, str):
        raise ItfError(f"{where}: #unserializable must hold a string")
    return text


# one-key objects with a reserved '#' key -> renderer; everything else that is an object is a record
_SPECIAL: dict[str, Callable[[dict[str, Any], str], str]] = {
    "#bigint": _bigint,
    "#set": _set,
    "#tup": _tup,
    "#map": _map,
    "#unserializable": _unserializable,
}


def _record(obj: dict[str, Any], where: str) -> str:
    if set(obj) == {"tag", "value"} and isinstance(obj["tag"], str):
        return f'Variant({_string(obj["tag"])}, {render(obj["value"], where + ".value")})'
    if not obj:
        return "<<>>"   # a record without fields is the function with the empty domain
    bad = [k for k in obj if k.startswith("#")]
    if bad:
        raise ItfError(f"{where}: unknown ITF form {bad[0]!r}")
    return "[" + ", ".join(f"{k} |-> {render(v, f'{where}.{k}')}" for k, v in obj.items()) + "]"


def render(value: Any, where: str = "value") -> str:
    """Render one ITF value as TLA+ text; raise ItfError (naming `where`) for anything that is not ITF."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "<<" + ", ".join(render(v, f"{where}[{i}]") for i, v in enumerate(value)) + ">>"
    if isinstance(value, dict):
        special = [k for k in value if k in _SPECIAL]
        if special:
            if len(value) != 1:
                raise ItfError(f"{where}: {special[0]} must be the only key of its object")
            return _SPECIAL[special[0]](value, where)
        return _record(value, where)
    raise ItfError(f"{where}: {type(value).__name__} is not an ITF value ({value!r})")


def trace_from_json(data: Any) -> Trace:
    """Turn parsed ITF JSON into a Trace (1-based states, loop_to 1-based); raise ItfError on bad shape."""
    if not isinstance(data, dict):
        raise ItfError("an ITF trace is a JSON object")
    variables = data.get("vars")
    states = data.get("states")
    if not (isinstance(variables, list) and all(isinstance(v, str) for v in variables)):
        raise ItfError("'vars' must be an array of variable names")
    if not isinstance(states, list):
        raise ItfError("'states' must be an array of states")
    trace = Trace()
    for i, state in enumerate(states):
        if not isinstance(state, dict):
            raise ItfError(f"states[{i}] must be an object")
        missing = [v for v in variables if v not in state]
        if missing:
            raise ItfError(f"states[{i}] has no value for {missing[0]!r}")
        values = {v: render(state[v], f"states[{i}].{v}") for v in variables}
        trace.states.append(TraceState(index=i + 1, action=None, values=values))
    loop = data.get("loop")
    if loop is not None:
        if isinstance(loop, bool) or not isinstance(loop, int) or not 0 <= loop < len(states):
            raise ItfError(f"'loop' must be a state index in 0..{len(states) - 1}, got {loop!r}")
        trace.loop_to = loop + 1
    return trace


def read_itf(path: Path) -> Trace:
    """Read an `.itf.json` file; bad JSON or a wrong shape is a one-line UsageError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    try:
        return trace_from_json(data)
    except ItfError as exc:
        raise UsageError(f"{path}: not an ITF trace: {exc}") from None
