"""Run the selected models in parallel on one backend and keep per-model artifacts."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from checks.cli import UsageError
from checks.specs import tlc
from checks.specs.backends import BACKENDS
from checks.specs.expectation import expected, mismatch
from checks.specs.manifest import ModelEntry, RunOptions
from checks.specs.outcome import SKIPPED, Outcome


@dataclass
class ModelResult:
    """One model's outcome next to its manifest entry."""

    entry: ModelEntry
    outcome: Outcome
    expected: str
    mismatch: str | None

    @property
    def matched(self) -> bool:
        """Whether the outcome is what the manifest expects."""
        return self.mismatch is None

    def to_json(self) -> dict[str, Any]:
        """Plain data: entry, outcome, match."""
        return {"entry": entry_json(self.entry), "expected": self.expected, "outcome": self.outcome.to_json(),
                "match": self.matched, "mismatch": self.mismatch}


def entry_json(entry: ModelEntry) -> dict[str, Any]:
    """A manifest entry as plain data (paths as strings)."""
    data = asdict(entry)
    data["spec_path"], data["cfg_path"] = str(entry.spec_path), str(entry.cfg_path)
    data["library"] = [str(p) for p in entry.library]
    return data


def select(entries: list[ModelEntry], tier: str, only: list[str] | None, backend: str) -> list[ModelEntry]:
    """The models to run: --only names (any tier) or a tier; Apalache runs only models it has settings for.

    Unknown --only names are caught by load_manifest(only=...); checked again here for other callers."""
    if only:
        known = {e.name for e in entries}
        unknown = [name for name in only if name not in known]
        if unknown:
            raise UsageError(f"--only: no model named {unknown[0]} in the manifest")
        chosen = [e for e in entries if e.name in only]
    else:
        chosen = [e for e in entries if tier == "all" or e.tier == tier]
    if backend == "apalache":
        chosen = [e for e in chosen if e.apalache is not None]
    if not chosen:
        raise UsageError(f"no models selected (tier {tier}, backend {backend})")
    return chosen


def _run_one(entry: ModelEntry, backend: str, opts: RunOptions) -> ModelResult:
    if entry.skip and backend == "tlc":        # e.g. an Examples `symbolic` model: Apalache's, not TLC's
        outcome = Outcome(backend=backend, kind=SKIPPED, detail=entry.skip)
    else:
        outcome = BACKENDS[backend](entry, opts)
    simulated = opts.simulate is not None and backend == "tlc"
    result = ModelResult(entry=entry, outcome=outcome, expected=expected(entry, backend, simulated),
                         mismatch=mismatch(entry, outcome, simulated))
    folder = opts.artifacts / entry.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return result


def run_models(entries: list[ModelEntry], backend: str, opts: RunOptions, jobs: int) -> list[ModelResult]:
    """Run every entry (up to `jobs` at once), results in manifest order."""
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend} (known: {', '.join(BACKENDS)})")
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(_run_one, entry, backend, opts) for entry in entries]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            tlc.stop_all()          # else the pool waits for every running model to finish
            raise
