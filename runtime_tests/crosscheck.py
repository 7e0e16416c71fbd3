"""Put each configuration's observed failure interval next to the verdict of the TLA+ model that
describes it (specs/manifest.yaml: `name`, `module`, `expect`) and flag contradictions.

- model says safe (expect: pass) and a round failed: contradiction, on any device.
- model says unsafe (invariant/property/deadlock) and 0 failures in a run "large enough": contradiction.
  Large enough = at least `rounds_to_detect(DETECT_RATE)` rounds (29 for 10%): a crash rate of 10% or
  more would have shown at least one crash with 95% probability.
- models of a hazard in Apple's AGX driver (module AGXEncoderRace) predict nothing on CUDA or CPU,
  which have no such driver: "not applicable" there, never a contradiction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from runtime_tests import stats
from runtime_tests.rounds import REPO_ROOT

MANIFEST = REPO_ROOT / "specs" / "manifest.yaml"
DETECT_RATE = 0.10  # the SPRT's p1: the smallest crash rate a "large enough" run must have seen
DRIVER_MODULES = ("AGXEncoderRace",)  # hazards that exist only with Apple's GPU driver (device mps)


@dataclass(frozen=True)
class CrossCheck:
    """The model's verdict next to what the run saw."""

    config: str
    model: str | None
    expect: str | None
    verdict: str  # agrees | contradiction | inconclusive | not applicable | unknown
    reason: str


def load_verdicts(path: Path = MANIFEST) -> dict[str, tuple[str, str]]:
    """{model name: (module, expect)} from the spec manifest; {} when the manifest is missing or unreadable
    (the runtime tests only read these two fields, so they run where TLC does not)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    models = data.get("models") if isinstance(data, dict) else None
    return {str(m["name"]): (str(m.get("module", "")), str(m.get("expect", "")))
            for m in models or [] if isinstance(m, dict) and "name" in m}


def check(config: str, model: str | None, failures: int, rounds: int, device: str,
          verdicts: dict[str, tuple[str, str]]) -> CrossCheck:
    """Compare one configuration's k/n failures with its model's verdict."""
    if not model:
        return CrossCheck(config, None, None, "unknown", "no model names this configuration")
    if model not in verdicts:
        return CrossCheck(config, model, None, "unknown", f"model {model} is not in specs/manifest.yaml")
    module, expect = verdicts[model]
    r = stats.rate(failures, rounds)
    if expect == "pass":
        if failures:
            return CrossCheck(config, model, expect, "contradiction",
                              f"the model says safe but {failures}/{rounds} rounds failed")
        return CrossCheck(config, model, expect, "agrees", f"the model says safe; {stats.sentence(r)}")
    if device != "mps" and module in DRIVER_MODULES:
        return CrossCheck(config, model, expect, "not applicable",
                          f"the model says unsafe ({expect}) for Apple's AGX driver, which {device} does not have; "
                          f"no crash is expected here ({failures}/{rounds} failed)")
    if failures:
        return CrossCheck(config, model, expect, "agrees",
                          f"the model says unsafe ({expect}); {stats.sentence(r)}")
    needed = stats.rounds_to_detect(DETECT_RATE)
    if rounds >= needed:
        return CrossCheck(config, model, expect, "contradiction",
                          f"the model says unsafe ({expect}) but 0/{rounds} failed: a crash rate of "
                          f"{DETECT_RATE:.0%} or more would have shown with 95% probability (>= {needed} rounds)")
    return CrossCheck(config, model, expect, "inconclusive",
                      f"the model says unsafe ({expect}); 0/{rounds} is too few to expect a crash "
                      f"(needs >= {needed} rounds to see a {DETECT_RATE:.0%} rate)")
