"""Crash-rate statistics (scipy): exact intervals, one-sided bounds, Fisher's test, SPRT, bootstrap."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from scipy import stats

CONFIDENCE = 0.95
# Sequential test: crash rate p0 = 1% (acceptable) against p1 = 10% (broken), alpha = beta = 0.05.
SPRT_P0, SPRT_P1, SPRT_ALPHA, SPRT_BETA = 0.01, 0.10, 0.05, 0.05


@dataclass(frozen=True)
class Rate:
    """k failures in n rounds with its exact (Clopper-Pearson) interval and one-sided upper bound."""

    k: int
    n: int
    low: float
    high: float
    upper: float  # one-sided CONFIDENCE upper bound

    @property
    def estimate(self) -> float:
        """The observed rate k/n."""
        return self.k / self.n if self.n else float("nan")


def rate(k: int, n: int, confidence: float = CONFIDENCE) -> Rate:
    """Clopper-Pearson two-sided interval and the exact one-sided upper bound for k of n."""
    if n <= 0:
        return Rate(k, n, 0.0, 1.0, 1.0)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    upper = 1.0 if k >= n else float(stats.beta.ppf(confidence, k + 1, n - k))
    return Rate(k, n, float(ci.low), float(ci.high), upper)


def fisher(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher exact p-value for failure counts k1/n1 vs k2/n2."""
    return float(stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="two-sided").pvalue)


def rounds_to_detect(rate_: float, confidence: float = CONFIDENCE) -> int:
    """Rounds after which a crash rate >= rate_ shows at least one crash with probability `confidence`."""
    return math.ceil(math.log(1 - confidence) / math.log(1 - rate_))


def sprt(outcomes: Sequence[bool], p0: float = SPRT_P0, p1: float = SPRT_P1, alpha: float = SPRT_ALPHA,
         beta: float = SPRT_BETA) -> tuple[str, int]:
    """Wald's SPRT over failure flags in order: ('accept' = rate <= p0, 'reject' = rate >= p1, or
    'continue') and the number of rounds it used."""
    upper, lower = math.log((1 - beta) / alpha), math.log(beta / (1 - alpha))
    step_fail, step_pass = math.log(p1 / p0), math.log((1 - p1) / (1 - p0))
    llr = 0.0
    for i, failed in enumerate(outcomes, 1):
        llr += step_fail if failed else step_pass
        if llr >= upper:
            return "reject", i
        if llr <= lower:
            return "accept", i
    return "continue", len(outcomes)


def sentence(r: Rate, confidence: float = CONFIDENCE) -> str:
    """A plain statement of what k/n shows, e.g. '0/20 failures: rate below 13.9% at 95%, not shown safe'."""
    pct = f"{confidence:.0%}"
    if r.n == 0:
        return "no rounds"
    if r.k == 0:
        verdict = "not shown safe" if r.upper > 0.01 else "shown below 1%"
        return f"0/{r.n} failures: rate below {100 * r.upper:.3g}% at {pct}, {verdict}"
    return (f"{r.k}/{r.n} failures: rate {100 * r.estimate:.1f}% "
            f"({pct} interval {100 * r.low:.1f}-{100 * r.high:.1f}%)")


def median_iqr(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, first quartile, third quartile)."""
    import numpy as np

    q1, med, q3 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return float(med), float(q1), float(q3)


def efficiency(base: Sequence[float], scaled: Sequence[float], threads: int, seed: int = 0,
               resamples: int = 2000) -> tuple[float, float, float]:
    """Scaling efficiency median(ops/s at N) / (N * median(ops/s at 1)) with a 95% percentile-bootstrap
    interval that resamples the repetitions of both settings independently."""
    import numpy as np

    base_a, scaled_a = np.asarray(base, dtype=float), np.asarray(scaled, dtype=float)
    point = float(np.median(scaled_a) / (threads * np.median(base_a)))
    rng = np.random.default_rng(seed)
    b = np.median(rng.choice(base_a, (resamples, len(base_a))), axis=1)
    s = np.median(rng.choice(scaled_a, (resamples, len(scaled_a))), axis=1)
    low, high = np.percentile(s / (threads * b), [2.5, 97.5])
    return point, float(low), float(high)
