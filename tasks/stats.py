"""The numbers of an eval report, from its results: success rates with Wilson intervals, exact McNemar tests between
arms, per-site rates, learning curves and intervention statistics. Pure Python (no scipy)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

from webcoach.tasks.results import TaskResult

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (95% by default); (0, 1) when n is 0."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: the discordant pairs b (A succeeded, B failed) and c (the reverse) against a
    fair coin, p = min(1, 2 * P(X <= min(b, c))) with X ~ Binomial(b + c, 1/2). 1.0 when there are no discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    # Exact integer arithmetic: math.comb stays exact where floats would underflow for large n.
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**n)


@dataclass(frozen=True, kw_only=True)
class ArmStats:
    arm: str
    n: int  # runs counted (harness errors left out)
    successes: int
    ci: tuple[float, float]
    unjudged: int  # the judge could not say: counted as failures
    errors: int  # harness errors, not counted (--resume runs them again)
    mean_steps: float
    mean_seconds: float
    total_tokens: int | None
    cost: float | None

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else 0.0


@dataclass(frozen=True, kw_only=True)
class Paired:
    """Arms A and B on the tasks both ran: only_a succeeded with A alone, only_b with B alone."""

    a: str
    b: str
    n: int
    both: int
    only_a: int
    only_b: int
    p_value: float


@dataclass(frozen=True, kw_only=True)
class InterventionStats:
    arm: str
    runs: int
    total: int
    runs_with: int
    success_with: float | None  # success rate of runs that got advice
    success_without: float | None
    by_trigger: dict[str, int]
    top_cited: list[tuple[str, int]]  # the episodes advice cited most


@dataclass(frozen=True, kw_only=True)
class Report:
    arms: list[ArmStats]
    paired: list[Paired]
    sites: dict[str, dict[str, tuple[int, int]]]  # site -> arm -> (successes, runs)
    curves: dict[str, list[float]]  # arm -> cumulative success rate after each task, in task order
    blocks: dict[str, list[tuple[int, int, float]]]  # arm -> (first task, last task, success rate) for up to 5 blocks
    interventions: list[InterventionStats]
    results: list[TaskResult] = field(default_factory=list)


def arm_order(results: Sequence[TaskResult]) -> list[str]:
    """baseline, coach, frozen first (in that order), then any other arm as first seen."""
    seen = list(dict.fromkeys(r.arm for r in results))
    known = [a for a in ("baseline", "coach", "frozen") if a in seen]
    return known + [a for a in seen if a not in known]


def build_report(results: Sequence[TaskResult]) -> Report:
    """All the numbers, from the latest result per (arm, task) (see results.latest)."""
    arms = arm_order(results)
    counted = [r for r in results if r.error is None]
    by_arm = {a: sorted((r for r in counted if r.arm == a), key=lambda r: r.order) for a in arms}
    return Report(
        arms=[_arm_stats(a, by_arm[a], sum(r.error is not None for r in results if r.arm == a)) for a in arms],
        paired=[_paired(a, b, by_arm[a], by_arm[b]) for a, b in combinations(arms, 2)],
        sites=_sites(counted, arms),
        curves={a: _cumulative(by_arm[a]) for a in arms},
        blocks={a: _blocks(by_arm[a]) for a in arms},
        interventions=[_interventions(a, by_arm[a]) for a in arms if a != "baseline"],
        results=list(results),
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _arm_stats(arm: str, runs: Sequence[TaskResult], errors: int) -> ArmStats:
    successes = sum(r.success for r in runs)
    tokens = [r.total_tokens for r in runs if r.total_tokens is not None]
    costs = [r.cost for r in runs if r.cost is not None]
    return ArmStats(
        arm=arm,
        n=len(runs),
        successes=successes,
        ci=wilson(successes, len(runs)),
        unjudged=sum(r.verdict is None for r in runs),
        errors=errors,
        mean_steps=_mean([r.steps for r in runs]),
        mean_seconds=_mean([r.seconds for r in runs]),
        total_tokens=sum(tokens) if tokens else None,
        cost=sum(costs) if costs else None,
    )


def _paired(a: str, b: str, runs_a: Sequence[TaskResult], runs_b: Sequence[TaskResult]) -> Paired:
    other = {r.task_id: r.success for r in runs_b}
    pairs = [(r.success, other[r.task_id]) for r in runs_a if r.task_id in other]
    only_a = sum(x and not y for x, y in pairs)
    only_b = sum(y and not x for x, y in pairs)
    return Paired(
        a=a,
        b=b,
        n=len(pairs),
        both=sum(x and y for x, y in pairs),
        only_a=only_a,
        only_b=only_b,
        p_value=mcnemar_exact(only_a, only_b),
    )


def _sites(runs: Sequence[TaskResult], arms: Sequence[str]) -> dict[str, dict[str, tuple[int, int]]]:
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for site in sorted({r.site for r in runs}):
        table[site] = {}
        for arm in arms:
            mine = [r for r in runs if r.site == site and r.arm == arm]
            table[site][arm] = (sum(r.success for r in mine), len(mine))
    return table


def _cumulative(runs: Sequence[TaskResult]) -> list[float]:
    curve: list[float] = []
    wins = 0
    for i, r in enumerate(runs, start=1):
        wins += r.success
        curve.append(wins / i)
    return curve


def _blocks(runs: Sequence[TaskResult], count: int = 5) -> list[tuple[int, int, float]]:
    """Success rate in up to `count` consecutive, near-equal blocks of the task order (1-based task numbers)."""
    n = len(runs)
    if n == 0:
        return []
    parts = min(count, n)
    out: list[tuple[int, int, float]] = []
    for i in range(parts):
        lo, hi = i * n // parts, (i + 1) * n // parts
        chunk = runs[lo:hi]
        out.append((lo + 1, hi, sum(r.success for r in chunk) / len(chunk)))
    return out


def _interventions(arm: str, runs: Sequence[TaskResult]) -> InterventionStats:
    with_advice = [r for r in runs if r.interventions]
    without = [r for r in runs if not r.interventions]
    cited = Counter(i for r in runs for a in r.interventions for i in a.episode_ids)
    return InterventionStats(
        arm=arm,
        runs=len(runs),
        total=sum(len(r.interventions) for r in runs),
        runs_with=len(with_advice),
        success_with=_mean([r.success for r in with_advice]) if with_advice else None,
        success_without=_mean([r.success for r in without]) if without else None,
        by_trigger=dict(Counter(a.trigger for r in runs for a in r.interventions).most_common()),
        top_cited=cited.most_common(5),
    )
