"""What every analysing command shares about its inputs: size and symlink limits, empty and incomplete scans."""

from __future__ import annotations

import argparse
import sys

from analyzers.discover import DEFAULT_MAX_BYTES, InputLimits
from analyzers.findings import Diagnostic
from checks.cli import UsageError


def add_options(p: argparse.ArgumentParser) -> None:
    """--max-file-bytes and --follow-symlinks."""
    p.add_argument("--max-file-bytes", type=int, default=DEFAULT_MAX_BYTES, metavar="N",
                   help=f"skip (with a note) sources larger than N bytes (default {DEFAULT_MAX_BYTES})")
    p.add_argument("--follow-symlinks", action="store_true",
                   help="read symbolic links that point outside the scanned folders (default: skip them)")


def limits(args: argparse.Namespace) -> InputLimits:
    """The InputLimits the options ask for (a usage error for a non-positive size)."""
    if args.max_file_bytes < 1:
        raise UsageError("--max-file-bytes must be at least 1")
    return InputLimits(args.max_file_bytes, args.follow_symlinks)


def require_files(count: int, what: str) -> None:
    """A scan of zero files is a usage error: nothing was analysed, so nothing can have passed."""
    if count == 0:
        raise UsageError(f"nothing analysed: no readable C++/ObjC++ source under {what}")


def incomplete(diagnostics: list[Diagnostic]) -> bool:
    """Whether analysis failed somewhere; says so on stderr (the exit code must not claim a clean run)."""
    failed = [d for d in diagnostics if d.kind == "internal"]
    if failed:
        where = sorted({d.path or "(project rules)" for d in failed})
        print(f"warning: findings are incomplete: analysis failed {len(failed)} time(s) in "
              f"{', '.join(where[:5])}{' ...' if len(where) > 5 else ''} (rerun with --debug)", file=sys.stderr)
    return bool(failed)
