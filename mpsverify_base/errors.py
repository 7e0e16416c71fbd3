"""The error types and exit codes shared by the library and the commands."""

from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    """Exit codes shared by every CLI."""

    CLEAN = 0
    FINDINGS = 1
    USAGE = 2
    TOOL_MISSING = 3


class CliError(Exception):
    """An error reported as one line on stderr with a fixed exit code."""

    exit_code: Exit = Exit.USAGE


class UsageError(CliError):
    """Bad arguments or bad input (exit 2)."""

    exit_code = Exit.USAGE


class ToolMissing(CliError):
    """A required external tool is missing (exit 3); the message says how to install it."""

    exit_code = Exit.TOOL_MISSING
