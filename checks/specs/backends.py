"""Model-checker backends by name; each is `run(entry, opts) -> Outcome`."""

from __future__ import annotations

from typing import Callable

from checks.specs import tlc
from checks.specs.manifest import ModelEntry, RunOptions
from checks.specs.outcome import Outcome


def _apalache(entry: ModelEntry, opts: RunOptions) -> Outcome:
    # imported on use: the Apalache backend is optional and its module may be absent
    try:
        from checks.specs import apalache
    except ModuleNotFoundError as exc:
        if exc.name != "checks.specs.apalache":
            raise
        return Outcome(backend="apalache", kind="tool-missing",
                       detail="this mps-verify has no Apalache backend (checks/specs/apalache.py)")
    return apalache.run(entry, opts)


BACKENDS: dict[str, Callable[[ModelEntry, RunOptions], Outcome]] = {"tlc": tlc.run, "apalache": _apalache}
