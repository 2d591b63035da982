"""Two arms compared with the TASK as the unit: a task's repeats are not independent pairs (at temperature 0 they
mostly copy each other), so they never add to n and never shrink a p-value.

- Each task run once (or every repeat of a task gives the same outcome in each arm): the tasks' 2x2 table, the exact
  McNemar test and Newcombe's method 10 interval for the paired difference with the corrected correlation term, as
  Fagerland, Lydersen and Laake (2014, Stat Med 33:2850) give it (never zero-width, also with no discordant task).
- Repeats that differ: each task's mean outcome per arm; the two-sided exact sign test over the tasks whose means
  differ, and a percentile cluster bootstrap (tasks resampled whole) of the mean per-task difference.

Pure Python (no scipy): tests check every figure against statsmodels and scipy."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal
MCNEMAR = "exact McNemar over tasks; Newcombe method 10 CI (corrected phi)"
SIGN = "sign test over tasks; cluster bootstrap CI over per-task means"
RESAMPLES = 4000


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (95% by default); (0, 1) when n is 0."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0/n and n/n the exact bound is 0 or 1 but rounding lands a hair inside it (0.9999999999999999 for 10/10),
    # which puts the rate outside its own interval: pin those ends, and keep p inside [low, high] always.
    low = 0.0 if successes <= 0 else min(p, max(0.0, centre - half))
    high = 1.0 if successes >= n else max(p, min(1.0, centre + half))
    return (low, high)


def corrected_phi(both: int, only_a: int, only_b: int, neither: int) -> float:
    """The correlation of the arms' outcomes as Newcombe's method 10 uses it, with his correction: the cross-product
    difference is reduced by n/2 when it exceeds n/2, and counts as 0 between 0 and n/2 (0 when a margin is empty).
    Without it a table with no discordant pair gets phi = 1 and a zero-width interval."""
    n = both + only_a + only_b + neither
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    if not margins:
        return 0.0
    cross: float = both * neither - only_a * only_b
    if cross > n / 2:
        cross -= n / 2
    elif cross >= 0:
        cross = 0
    return cross / math.sqrt(margins)


def paired_difference(both: int, only_a: int, only_b: int, neither: int, z: float = Z95) -> tuple[float, float, float]:
    """(rate_B - rate_A, low, high) for paired binary outcomes: Newcombe's (1998) method 10 (square-and-add of the two
    Wilson intervals) with the corrected phi. It stays inside [-1, 1] and has width at 0 and n."""
    n = both + only_a + only_b + neither
    if n == 0:
        return (0.0, -1.0, 1.0)
    p_a, p_b = (both + only_a) / n, (both + only_b) / n
    l_a, u_a = wilson(both + only_a, n, z)
    l_b, u_b = wilson(both + only_b, n, z)
    phi = corrected_phi(both, only_a, only_b, neither)
    diff = p_b - p_a
    down = (p_b - l_b) ** 2 - 2 * phi * (p_b - l_b) * (u_a - p_a) + (u_a - p_a) ** 2
    up = (u_b - p_b) ** 2 - 2 * phi * (u_b - p_b) * (p_a - l_a) + (p_a - l_a) ** 2
    return (diff, max(-1.0, diff - math.sqrt(max(down, 0.0))), min(1.0, diff + math.sqrt(max(up, 0.0))))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value (= the exact sign test): p = min(1, 2 * P(X <= min(b, c))) with
    X ~ Binomial(b + c, 1/2). 1.0 when there are no discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    # Exact integer arithmetic: math.comb stays exact where floats would underflow for large n.
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**n)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def cluster_bootstrap(values: Sequence[float], *, seed: int = 0, resamples: int = RESAMPLES) -> tuple[float, float]:
    """95% percentile interval of the mean of `values` (one per task), resampling the tasks with replacement."""
    n = len(values)
    if n == 0:
        return (-1.0, 1.0)
    rng = random.Random(seed)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return (_quantile(means, 0.025), _quantile(means, 0.975))


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """B against A over the tasks both finished: `diff` is B's success rate minus A's (the mean per-task difference),
    with its 95% interval and two-sided p-value. `better_b`/`better_a` count tasks; with one run per task `both`,
    `only_a`, `only_b` and `neither` are the tasks' 2x2 table."""

    a: str
    b: str
    tasks: int
    runs: int  # paired runs per arm (tasks x repeats)
    repeats: int  # the most runs of one task
    both: int
    only_a: int
    only_b: int
    neither: int
    better_a: int
    better_b: int
    diff: float
    ci: tuple[float, float]
    p_value: float
    method: str

    @property
    def ties(self) -> int:
        return self.tasks - self.better_a - self.better_b

    @property
    def n(self) -> int:
        """The unit count: tasks."""
        return self.tasks

    @property
    def diff_ci(self) -> tuple[float, float]:
        return self.ci


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def compare(
    a: str, b: str, runs_a: Mapping[str, Sequence[bool]], runs_b: Mapping[str, Sequence[bool]], *, seed: int = 0
) -> Comparison:
    """Compare arm B with arm A; `runs_X` maps task id -> that arm's outcomes over the task's paired repeats."""
    tasks = [t for t in runs_a if t in runs_b and runs_a[t] and runs_b[t]]
    mean_a = {t: _mean([float(x) for x in runs_a[t]]) for t in tasks}
    mean_b = {t: _mean([float(x) for x in runs_b[t]]) for t in tasks}
    runs = sum(len(runs_a[t]) for t in tasks)
    repeats = max((max(len(runs_a[t]), len(runs_b[t])) for t in tasks), default=0)
    better_a = sum(mean_a[t] > mean_b[t] for t in tasks)
    better_b = sum(mean_b[t] > mean_a[t] for t in tasks)
    common: dict[str, Any] = {
        "a": a,
        "b": b,
        "tasks": len(tasks),
        "runs": runs,
        "repeats": repeats,
        "better_a": better_a,
        "better_b": better_b,
    }
    binary = all(m in (0.0, 1.0) for m in (*mean_a.values(), *mean_b.values()))
    if binary:
        both = sum(mean_a[t] == 1.0 and mean_b[t] == 1.0 for t in tasks)
        neither = sum(mean_a[t] == 0.0 and mean_b[t] == 0.0 for t in tasks)
        diff, low, high = paired_difference(both, better_a, better_b, neither)
        return Comparison(
            **common,
            both=both,
            only_a=better_a,
            only_b=better_b,
            neither=neither,
            diff=diff,
            ci=(low, high),
            p_value=mcnemar_exact(better_a, better_b),
            method=MCNEMAR,
        )
    deltas = [mean_b[t] - mean_a[t] for t in tasks]
    low, high = cluster_bootstrap(deltas, seed=seed)
    if high - low < 1e-12:  # no task differs: the bootstrap has no spread; Newcombe's interval for n tasks, none discordant
        succeeded = round(sum(mean_a.values()))
        _, low, high = paired_difference(succeeded, 0, 0, len(tasks) - succeeded)
    return Comparison(
        **common,
        both=0,
        only_a=0,
        only_b=0,
        neither=0,
        diff=_mean(deltas),
        ci=(low, high),
        p_value=mcnemar_exact(better_a, better_b),
        method=SIGN,
    )


def rate_interval(per_task: Mapping[str, Sequence[bool]], *, seed: int = 0) -> tuple[float, float]:
    """An arm's 95% interval with the task as the unit: Wilson over tasks when each task's runs agree, else the
    cluster bootstrap of the per-task means."""
    means = [_mean([float(x) for x in v]) for v in per_task.values() if v]
    if all(m in (0.0, 1.0) for m in means):
        return wilson(int(sum(means)), len(means))
    low, high = cluster_bootstrap(means, seed=seed)
    if high - low < 1e-12:
        runs = [x for v in per_task.values() for x in v]
        return wilson(sum(runs), len(runs))
    return (low, high)
