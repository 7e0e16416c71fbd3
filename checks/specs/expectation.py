"""Does an outcome match what the manifest expects? (result, and exact counts for TLC passes)."""

from __future__ import annotations

from checks.specs.manifest import ModelEntry
from checks.specs.outcome import FAILURES, SKIPPED, Outcome

SIMULATED_PASS = "no violation (simulation)"


def expected(entry: ModelEntry, backend: str, simulated: bool = False) -> str:
    """The result the manifest expects from `backend` (Apalache has its own, bounded, expectation).

    A simulation cannot show a pass: what a passing model expects from one is 'no violation'."""
    if backend == "apalache" and entry.apalache is not None:
        return entry.apalache.expect
    if entry.expect == "pass" and (simulated or entry.simulate is not None):
        return SIMULATED_PASS
    return entry.expect


def _same(want: str, outcome: Outcome) -> bool:
    if want == SIMULATED_PASS:
        return outcome.kind == "no-violation"
    # a bare `invariant` / `property` (tlaplus/Examples' safety / liveness failure, TLC's exit 12 / 13)
    # accepts any name; a []P property is a safety failure (TLC checks it as an invariant, exit 12)
    if want == "invariant":
        return outcome.kind == "invariant" or (outcome.kind == "property" and outcome.exit_code == 12)
    if want == "property":
        return outcome.kind == "property" and outcome.exit_code != 12
    return outcome.result == want


def mismatch(entry: ModelEntry, outcome: Outcome, simulated: bool = False) -> str | None:
    """None when the outcome matches the manifest (or the model was skipped), else 'expected X, got Y (detail)'."""
    if outcome.kind == SKIPPED:
        return None
    want = expected(entry, outcome.backend, simulated)
    got = outcome.result
    if outcome.kind in FAILURES or not _same(want, outcome):
        return f"expected {want}, got {got}" + (f" ({outcome.detail})" if outcome.detail else "")
    # TLC's passes are exhaustive: the state counts are part of the result (depth is not: it varies)
    if entry.distinct is None and entry.total is None:
        return None     # no counts recorded (allowed in an Examples manifest.json only): the result is compared
    if outcome.backend == "tlc" and want == "pass" and outcome.total is None and outcome.distinct == entry.distinct:
        return None     # distributed TLC: its states-generated count differs from run to run; distinct is exact
    if outcome.backend == "tlc" and want == "pass" and (outcome.distinct, outcome.total) != (entry.distinct, entry.total):
        return (f"expected pass with {entry.distinct} distinct / {entry.total} total states, "
                f"got {outcome.distinct} distinct / {outcome.total} total")
    return None
