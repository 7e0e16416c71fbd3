"""`python -m checks.bench_hostile`: CPU seconds of every stage on issue #15's pathological patterns at large sizes.

The tests (tests/hostile/test_linear.py) compare 16 KB with 64 KB; this goes to 1 MB, where anything
super-linear left would show as a growing per-KB time.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from checks import cli

SIZES = (64 * 1024, 256 * 1024, 1024 * 1024)


def main(argv: list[str]) -> int:
    """Print one row per pattern: seconds at each size and the 1 MB / 64 KB ratio (linear: 16)."""
    p = cli.parser("python -m checks.bench_hostile", "Time the hostile-input patterns at large sizes.")
    p.add_argument("--pattern", action="append", help="only these patterns (repeatable)")
    args = p.parse_args(argv)
    from checks.hostile import PATTERNS, measure

    names = args.pattern or sorted(PATTERNS)
    unknown = [n for n in names if n not in PATTERNS]
    if unknown:
        raise cli.UsageError(f"unknown pattern {unknown[0]!r} (known: {', '.join(sorted(PATTERNS))})")
    print(f"{'pattern':26} " + " ".join(f"{s // 1024:>7} KB" for s in SIZES) + "   ratio (linear: 16)")
    with tempfile.TemporaryDirectory(prefix="mps-verify-hostile-") as tmp:
        root = Path(tmp)
        (root / "warm.mm").write_text("std::mutex m;\nvoid f() { std::lock_guard<std::mutex> g(m); }\n")
        measure(root / "warm.mm", root)       # imports and compiled scanners out of the first row
        for name in names:
            times = []
            for size in SIZES:
                path = root / f"{name}-{size}.mm"
                path.write_text(PATTERNS[name](size))
                times.append(measure(path, root))
            print(f"{name:26} " + " ".join(f"{t:8.2f} s" for t in times) + f"   {times[-1] / max(times[0], 1e-3):6.1f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
