"""Per-model run settings a manifest may give (TLC and JVM options, library paths, simulation), allow-listed.

A manifest is data, not a script: only options that change how TLC searches or how much memory it gets are
accepted. Options the runner owns (-config, -metadir, -tool, -workers), ones that write or delete files
(-dump, -cleanup) and ones that can turn a violation into a reported success (-continue) are refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.cli import UsageError

_INT = r"\d+"
# switch -> the pattern of its one argument (None: a flag without argument)
TLC_OPTIONS: dict[str, str | None] = {
    "-deadlock": None, "-nowarning": None, "-difftrace": None, "-terse": None, "-gzip": None, "-view": None,
    "-dfid": _INT, "-depth": _INT, "-seed": r"-?\d+", "-fp": _INT, "-fpbits": _INT, "-fpmem": r"\d+(\.\d+)?",
    "-maxSetSize": _INT, "-lncheck": r"final|default",
}
REFUSED_TLC = {
    "-continue": "it goes on after a violation and can then report success (exit 0)",
    "-cleanup": "it deletes ./states in the spec's folder",
    "-dump": "it writes files outside the run's artifacts",
    "-simulate": "use the simulate: key (or --simulate)",
    "-workers": "use --workers",
    "-checkpoint": "use --checkpoint", "-recover": "use --recover",
    "-config": "the runner sets it", "-metadir": "the runner sets it", "-tool": "the runner sets it",
}
JVM_OPTIONS = (
    re.compile(r"-X(mx|ms|ss)\d+[kKmMgG]?"),
    re.compile(r"-XX:MaxDirectMemorySize=\d+[kKmMgG]?"),
    re.compile(r"-XX:\+Use(Parallel|G1|Serial)GC"),
    re.compile(r"-Dtlc2\.tool\.fp\.FPSet\.impl=[\w.$]+"),
    re.compile(r"-Dfile\.encoding=[\w-]+"),
)
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


@dataclass(frozen=True)
class Simulation:
    """TLC's random simulation: `num` behaviours of at most `depth` steps, from `seed` (None: TLC picks)."""

    num: int
    depth: int
    seed: int | None = None

    def describe(self) -> str:
        """How the result of such a run reads: never 'pass'."""
        return f"no violation in {self.num:,} behaviours up to depth {self.depth}"


def _fail(where: str, message: str) -> UsageError:
    return UsageError(f"{where}: {message}")


def _strings(value: Any, where: str, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise _fail(where, f"{key} must be a list of strings")
    return [str(v) for v in value]


def model_name(name: str, where: str) -> str:
    """A model name, which becomes a folder of the artifacts: letters, digits, _ . + - and no path separator."""
    if not NAME.fullmatch(name) or name in (".", ".."):
        raise _fail(where, f"name {name!r} may use only letters, digits and _ . + - (it names an artifacts folder)")
    return name


def tlc_options(value: Any, where: str) -> tuple[str, ...]:
    """`tlc_options: [-deadlock, -dfid, 20]`, each switch allow-listed and its argument checked."""
    items = _strings(value, where, "tlc_options")
    result: list[str] = []
    i = 0
    while i < len(items):
        switch = items[i]
        if switch in REFUSED_TLC:
            raise _fail(where, f"tlc_options: {switch} is not allowed ({REFUSED_TLC[switch]})")
        if switch not in TLC_OPTIONS:
            raise _fail(where, f"tlc_options: {switch} is not allowed (allowed: {', '.join(TLC_OPTIONS)})")
        pattern = TLC_OPTIONS[switch]
        if pattern is None:
            result.append(switch)
            i += 1
            continue
        if i + 1 >= len(items) or not re.fullmatch(pattern, items[i + 1]):
            got = repr(items[i + 1]) if i + 1 < len(items) else "nothing"
            raise _fail(where, f"tlc_options: {switch} needs an argument matching {pattern}, got {got}")
        result += [switch, items[i + 1]]
        i += 2
    return tuple(result)


def jvm_options(value: Any, where: str) -> tuple[str, ...]:
    """`jvm_options: [-Xmx8g]`: heap/stack sizes, the garbage collector, TLC's fingerprint set, encoding."""
    items = _strings(value, where, "jvm_options")
    for item in items:
        if not any(p.fullmatch(item) for p in JVM_OPTIONS):
            raise _fail(where, f"jvm_options: {item} is not allowed (allowed: -Xmx/-Xms/-Xss SIZE, "
                               "-XX:MaxDirectMemorySize=SIZE, -XX:+Use{Parallel,G1,Serial}GC, "
                               "-Dtlc2.tool.fp.FPSet.impl=CLASS, -Dfile.encoding=NAME)")
    return tuple(items)


def library(value: Any, folder: Path, where: str) -> tuple[Path, ...]:
    """`library: [modules/, $COMMUNITY_MODULES_JAR]`: folders of .tla modules and jars, relative to the manifest.

    Existence is checked when the model runs (a missing jar is a missing tool, not a bad manifest)."""
    items = _strings(value, where, "library")
    paths = []
    for item in items:
        expanded = os.path.expanduser(os.path.expandvars(item))
        if "$" in expanded:
            raise _fail(where, f"library: {item}: environment variable not set")
        paths.append((folder / expanded).resolve())
    return tuple(paths)


def workers(value: Any, where: str) -> int | None:
    """`workers: 4`: TLC worker threads for this model (counts stay exact; depth may vary)."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _fail(where, "workers must be a positive integer")
    return value


def _positive_int(value: Any, where: str, key: str, allow_negative: bool = False) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or (value <= 0 and not allow_negative):
        raise _fail(where, f"simulate.{key} must be a positive integer")
    return value


def simulation(raw: Any, where: str) -> Simulation | None:
    """`simulate: {num: 2000, depth: 60, seed: 1}` (num and depth required: TLC's -simulate alone never stops)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _fail(where, "simulate must be a mapping with num, depth and optionally seed")
    unknown = sorted(set(map(str, raw)) - {"num", "depth", "seed"})
    if unknown:
        raise _fail(where, f"unknown key simulate.{unknown[0]} (allowed: num, depth, seed)")
    for key in ("num", "depth"):
        if key not in raw:
            raise _fail(where, f"missing key simulate.{key}")
    seed = raw.get("seed")
    if seed is not None:
        _positive_int(seed, where, "seed", allow_negative=True)
    return Simulation(num=_positive_int(raw["num"], where, "num"), depth=_positive_int(raw["depth"], where, "depth"),
                      seed=seed)
