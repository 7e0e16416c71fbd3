"""What one model-checker run yielded: the plain data between a backend and the verdict/report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Outcome kinds. The first five are results a manifest can expect; "no-violation" is a simulation that
# found nothing (it matches an expected pass of a simulated model, and is never called a pass);
# "skipped" is a model listed but not run here; the rest are failures of the run itself and never match.
EXPECTABLE = ("pass", "invariant", "deadlock", "property", "assumption")
NOT_EXHAUSTIVE = ("no-violation",)
SKIPPED = "skipped"
FAILURES = ("parse-error", "cfg-error", "undefined-constant", "eval-error", "type-error",
            "unsupported", "timeout", "crash", "out-of-memory", "inconsistent", "tool-missing", "unconfirmed")


@dataclass
class TraceState:
    """One state of a counterexample."""

    index: int                      # 1-based position in the trace
    action: str | None              # the action that led here (TLC), None for the initial state / ITF
    values: dict[str, str]          # variable -> value, as TLA+ text
    location: str | None = None     # TLC's "line L, col C to ... of module M" for the action


@dataclass
class Trace:
    """A counterexample; `loop_to` is the state a liveness lasso returns to."""

    states: list[TraceState] = field(default_factory=list)
    loop_to: int | None = None
    stuttering: bool = False
    loop_action: str | None = None      # the action that takes the last state back to `loop_to` (TLC)
    deadlocked: bool = False            # the last state has no enabled action


@dataclass
class Outcome:
    """The result of running one model on one backend."""

    backend: str                    # tlc | apalache
    kind: str                       # one of EXPECTABLE or FAILURES
    name: str | None = None         # violated invariant / property name, when there is one
    detail: str = ""                # one line for people (SANY location, error text, ...)
    distinct: int | None = None     # distinct states (TLC)
    total: int | None = None        # states generated (TLC)
    left: int | None = None         # states left on the queue at the end (TLC)
    depth: int | None = None
    bounded: int | None = None      # Apalache: steps explored ("bounded: K steps", never "proved")
    seconds: float = 0.0
    exit_code: int | None = None
    trace: Trace | None = None
    coverage: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def result(self) -> str:
        """The manifest's spelling of this outcome: pass | invariant: X | deadlock | property: X | ..."""
        if self.kind in ("invariant", "property") and self.name:
            return f"{self.kind}: {self.name}"
        if self.kind == "no-violation" and self.detail:
            return self.detail
        return self.kind

    def to_json(self) -> dict[str, Any]:
        """Plain-data form for JSON reports."""
        data = asdict(self)
        data["result"] = self.result
        return data
