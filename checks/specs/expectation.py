"""Does an outcome match what the manifest expects? (result, and exact counts for TLC passes)."""

from __future__ import annotations

from checks.specs.manifest import ModelEntry
from checks.specs.outcome import FAILURES, Outcome


def expected(entry: ModelEntry, backend: str) -> str:
    """The result the manifest expects from `backend` (Apalache has its own, bounded, expectation)."""
    if backend == "apalache" and entry.apalache is not None:
        return entry.apalache.expect
    return entry.expect


def mismatch(entry: ModelEntry, outcome: Outcome) -> str | None:
    """None when the outcome matches the manifest, else 'expected X, got Y (detail)'."""
    want = expected(entry, outcome.backend)
    got = outcome.result
    if outcome.kind in FAILURES or got != want:
        return f"expected {want}, got {got}" + (f" ({outcome.detail})" if outcome.detail else "")
    # TLC's passes are exhaustive: the state counts are part of the result (depth is not: it varies)
    if outcome.backend == "tlc" and want == "pass" and (outcome.distinct, outcome.total) != (entry.distinct, entry.total):
        return (f"expected pass with {entry.distinct} distinct / {entry.total} total states, "
                f"got {outcome.distinct} distinct / {outcome.total} total")
    return None
