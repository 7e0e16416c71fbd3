"""Generated-code shapes from issue #19: each builds one source of about `size` bytes.

Unlike checks/hostile.py (pathological input), these are what code generators really write: many tiny
functions, a class of many inline methods, one huge function, a huge initializer table, ObjC message
sends, long raw strings. The structural run should take time linear in each, at 0.8 MB/s or better.

    python -m checks.shapes OUTDIR [MB ...]    # OUTDIR/<MB>/<shape>/<shape>.mm (default: 1 and 4 MB)

Then time `python -m checks.structural OUTDIR/<MB>/<shape> --no-cache --jobs 1` on each folder.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable


def _fill(head: str, unit: Callable[[int], str], tail: str, size: int) -> str:
    """head + unit(0) + unit(1) + ... + tail, stopping once about `size` characters are there."""
    parts, total, i = [head], len(head) + len(tail), 0
    while total < size:
        parts.append(unit(i))
        total += len(parts[-1])
        i += 1
    parts.append(tail)
    return "".join(parts)


_SHADER = "line of shader source code;\n" * 40

SHAPES: dict[str, Callable[[int], str]] = {
    "funcs": lambda n: _fill("", lambda i: f"int f{i}(int x) {{ return x + {i}; }}\n", "", n),
    "class": lambda n: _fill("class Big {\n public:\n",
                             lambda i: f"  int m{i}(int x) const {{ return x * {i} + v_; }}\n",
                             " private:\n  int v_ = 0;\n};\n", n),
    "bigfunc": lambda n: _fill("int big(int* a, S* b) {\n  int acc = 0;\n",
                               lambda i: f"  acc += compute(a[{i % 97}], b->field{i % 13}, {i});\n",
                               "  return acc;\n}\n", n),
    "table": lambda n: _fill("static const Entry kTable[] = {\n",
                             lambda i: f"  {{{i}, {i * 7 % 1000}, \"name_{i}\", 0x{i:x}}},\n", "};\n", n),
    "objc": lambda n: _fill("@implementation Foo\n",
                            lambda i: f"- (void)method{i}:(id)x {{\n  [self.queue addOperation:x withTag:{i}];\n"
                                      f"  [[x child] setValue:@{i} forKey:@\"k{i}\"];\n}}\n", "@end\n", n),
    "rawstr": lambda n: _fill("", lambda i: f"static const char* k{i} = R\"SRC(\n{_SHADER})SRC\";\n", "", n),
}


def write(folder: Path, megabytes: float) -> list[Path]:
    """Each shape at `megabytes` MB, in a folder of its own under folder/<megabytes>/; their paths."""
    out = []
    for name, make in SHAPES.items():
        path = folder / f"{megabytes:g}" / name / f"{name}.mm"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make(int(megabytes * 1_000_000)), encoding="utf-8")
        out.append(path)
    return out


def main(argv: list[str]) -> int:
    """Write the shapes (default 1 and 4 MB) under the folder given."""
    if not argv or argv[0].startswith("-"):
        print("usage: python -m checks.shapes OUTDIR [MB ...]", file=sys.stderr)
        return 2
    for size in [float(a) for a in argv[1:]] or [1.0, 4.0]:
        for path in write(Path(argv[0]), size):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
