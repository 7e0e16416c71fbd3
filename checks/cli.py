"""Conventions every mps-verify command line follows: exit codes, one-line errors, common options."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from mpsverify_base.errors import CliError, Exit, ToolMissing, UsageError  # noqa: F401


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit 2."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        raise UsageError(f"{self.prog}: {message}")


def parser(prog: str, description: str, formats: Sequence[str] = ()) -> argparse.ArgumentParser:
    """Return an argument parser with the shared options (--debug, --format, --output, --config)."""
    p = _Parser(prog=prog, description=description)
    p.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    if formats:
        p.add_argument("--format", choices=list(formats), default=formats[0], help="output format")
        p.add_argument("--output", "-o", type=Path, help="write the report to FILE instead of stdout")
    p.add_argument("--config", type=Path, help="pyproject.toml or mps-verify.yaml to read settings from")
    return p


def emit(text: str, output: Path | None) -> None:
    """Write a report to --output or stdout."""
    if output is None:
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from exc


def dump_json(data: object) -> str:
    """Serialise a machine-readable result the same way everywhere (stable key order)."""
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False)


def _print_traceback() -> None:
    import traceback      # only with --debug: it imports tokenize, textwrap and linecache
    traceback.print_exc()


def run(main: Callable[[list[str]], int], argv: Sequence[str] | None = None, *, collect: bool = True,
        prog: str | None = None) -> int:
    """Run a CLI main, turning known errors into one line + exit code and others into exit 2.

    collect=False is for one-shot analyzer processes that build ~10^6 model objects and keep them to
    the end: cyclic collections would only rescan them (measured: 0.05 s each, several per run)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if argv is None and not collect:
        gc.disable()
    debug = "--debug" in args
    if debug:     # the analyzers print the traceback of a failure they contain (one bad file)
        os.environ["MPS_VERIFY_DEBUG"] = "1"
    prog = prog or (Path(sys.argv[0]).stem if argv is None else "mps-verify")
    try:
        code = int(main(args))
        if argv is None:        # a command of its own, not a call from a test or another command
            from analyzers.cache import trim
            trim()
        return code
    except CliError as exc:
        if debug:
            _print_traceback()
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug of ours: still one line unless --debug
        if debug:
            _print_traceback()
        print(f"error: internal error in {prog}: {type(exc).__name__}: {exc} (rerun with --debug)",
              file=sys.stderr)
        return int(Exit.USAGE)
    finally:
        if argv is None:   # a process about to exit, not a test calling in
            # The interpreter's final collection would walk every object a run built (10^5 model
            # nodes: measured 0.4-0.5 s of the structural CLI's 2 s); frozen ones are left to the OS.
            gc.freeze()
