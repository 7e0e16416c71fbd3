"""Pathological inputs from issue #15 (tests/hostile, `make bench-hostile`): each builds a source of about `size` bytes.

Every analysis stage must take time (and memory) linear in these inputs; `measure` runs one source
through parse, all structural rules, the TSA inventory and the lock graph.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable


def _fill(head: str, unit: str, tail: str, size: int) -> str:
    return head + unit * max(1, (size - len(head) - len(tail)) // len(unit)) + tail


PATTERNS: dict[str, Callable[[int], str]] = {
    # the lock graph's interprocedural walk: one function calling itself many times under a lock
    "self-calls": lambda n: _fill("std::mutex m;\nvoid f() {\n  std::lock_guard<std::mutex> g(m);\n", "  f();\n",
                                  "}\n", n),
    # a chain of functions each calling the next many times (fan-out at every level)
    "fan-out": lambda n: "std::mutex m;\n" + "".join(
        f"void f{i}() {{ std::lock_guard<std::mutex> g(m); " + f"f{i + 1}(); " * 8 + "}\n"
        for i in range(max(1, n // 110))),
    "ident-open-quote": lambda n: "a" * n + '"',
    "ident-open-quotes": lambda n: _fill("", "abcdefgh'", "", n),
    "raw-string-open": lambda n: _fill("", 'R"( ', "", n),
    "char-open": lambda n: _fill("'", "\\'", "", n),
    "parens-braces": lambda n: "(" * (n // 2) + "}" * (n // 2),
    "brackets-open": lambda n: "[" * n,
    "brackets-nested": lambda n: _fill("", "[[", "", n),
    "call-chain": lambda n: _fill("void f() {\n  a", "->b()", ";\n}\n", n),
    "lock-unlock": lambda n: _fill("std::mutex m;\nvoid f() {\n", "  m.lock(); m.unlock();\n", "}\n", n),
    "unused-suppressions": lambda n: _fill("", "// mps-verify: ignore[ST.001] not needed\n", "void f() {}\n", n),
    "suppressions-one-comment": lambda n: _fill("/*\n", "mps-verify: ignore[ST.001] not needed\n", "*/\n", n),
    "synchronized-nested": lambda n: _fill("void f() {\n", "@synchronized(a) {", "\n}\n", n),
}


def measure(path: Path, root: Path) -> float:
    """CPU seconds to parse `path` and run every structural rule, the TSA inventory and the lock graph."""
    from analyzers import engine, tsa
    from analyzers.hierarchy import load_hierarchy
    from analyzers.lockgraph import build_graph

    start = time.process_time()
    engine._LAST_FILES.clear()
    engine.analyze([path], root, cache=False, jobs=1)
    models = engine.load_models([path], root, cache=False, jobs=1)
    tsa.inventory(models)
    build_graph(models, load_hierarchy())
    return time.process_time() - start



def growth(make: Callable[[int], str], small: int, large: int, folder: Path, limit: float,
           floor: float) -> tuple[float, float, float]:
    """(best seconds at `small` bytes, at `large`, their ratio) of `measure` on `make(size)`: up to 3 tries
    each, stopping once the ratio is within `limit` (a timing is noisy; a superlinear stage is not)."""
    paths = [folder / f"small-{id(make)}.mm", folder / f"large-{id(make)}.mm"]
    paths[0].write_text(make(small))
    paths[1].write_text(make(large))
    best_small = best_large = float("inf")
    for _ in range(3):
        best_small = min(best_small, measure(paths[0], folder))
        best_large = min(best_large, measure(paths[1], folder))
        if best_large <= limit * max(best_small, floor):
            break
    return best_small, best_large, best_large / max(best_small, floor)
