"""The numbers of an eval report, from its results: success rates with Wilson intervals, exact McNemar tests and the
paired difference with Newcombe's interval between arms, per-site rates, learning curves, failure categories, LLM use
per role and intervention statistics. Pure Python (no scipy).

The unit is a run of one task (one repeat of it). Headline rates use the PAIRED units: those every arm finished without
a harness error, so arms are compared on the same tasks. A run counts as a success only when its verdict says so
(`TaskResult.judged_success`): no verdict is never a success."""

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
    # At 0/n and n/n the exact bound is 0 or 1 but rounding lands a hair inside it (0.9999999999999999 for 10/10),
    # which puts the rate outside its own interval: pin those ends, and keep p inside [low, high] always.
    low = 0.0 if successes <= 0 else min(p, max(0.0, centre - half))
    high = 1.0 if successes >= n else max(p, min(1.0, centre + half))
    return (low, high)


def paired_difference(both: int, only_a: int, only_b: int, neither: int, z: float = Z95) -> tuple[float, float, float]:
    """(rate_B - rate_A, low, high) for paired binary outcomes, with Newcombe's (1998) hybrid score interval for a
    difference of paired proportions (his method 10, no continuity correction): it stays inside [-1, 1] and behaves
    at 0 and n, where a Wald interval does not."""
    n = both + only_a + only_b + neither
    if n == 0:
        return (0.0, -1.0, 1.0)
    p_a, p_b = (both + only_a) / n, (both + only_b) / n
    l_a, u_a = wilson(both + only_a, n, z)
    l_b, u_b = wilson(both + only_b, n, z)
    # phi: the correlation of the two arms' outcomes over the pairs (0 when a margin is empty)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = (both * neither - only_a * only_b) / math.sqrt(margins) if margins else 0.0
    diff = p_b - p_a
    down = (p_b - l_b) ** 2 - 2 * phi * (p_b - l_b) * (u_a - p_a) + (u_a - p_a) ** 2
    up = (u_b - p_b) ** 2 - 2 * phi * (u_b - p_b) * (p_a - l_a) + (p_a - l_a) ** 2
    return (diff, max(-1.0, diff - math.sqrt(max(down, 0.0))), min(1.0, diff + math.sqrt(max(up, 0.0))))


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
    n: int  # runs counted: the paired units (every arm finished them without a harness error)
    successes: int
    ci: tuple[float, float]
    unjudged: int  # the judge could not say: counted as failures
    errors: int  # harness errors, not counted (--resume runs them again)
    planned: int | None  # runs the run.json files planned for this arm (None: unknown)
    finished: int  # runs without a harness error, paired or not
    all_successes: int  # successes over every finished run (paired or not)
    mean_steps: float  # over SUCCESSFUL runs only, as the WebCoach paper reports
    mean_seconds: float
    total_tokens: int | None
    cost: float | None
    excluded: int  # episodes of the task itself kept from its coaching, summed over runs

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else 0.0


@dataclass(frozen=True, kw_only=True)
class Paired:
    """Arms A and B on the units both ran: only_a succeeded with A alone, only_b with B alone. `diff` is B's success
    rate minus A's on those units, with its 95% interval."""

    a: str
    b: str
    n: int
    both: int
    only_a: int
    only_b: int
    p_value: float
    diff: float = 0.0
    diff_ci: tuple[float, float] = (-1.0, 1.0)


@dataclass(frozen=True, kw_only=True)
class SiteStats:
    successes: int
    n: int
    ci: tuple[float, float]


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
    sites: dict[str, dict[str, SiteStats]]  # site -> arm -> its paired runs
    curves: dict[str, list[float]]  # arm -> cumulative success rate after each paired run, in run order
    blocks: dict[str, list[tuple[int, int, float]]]  # arm -> (first run, last run, success rate) for up to 5 blocks
    interventions: list[InterventionStats]
    failures: dict[str, dict[str, int]] = field(default_factory=dict)  # arm -> failure kind -> failed runs showing it
    usage: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # arm -> role -> calls/tokens/cost
    repeats: dict[str, list[float]] = field(default_factory=dict)  # arm -> success rate per repeat (with --repeats)
    unpaired: int = 0  # finished runs left out of the headline because another arm lacks that unit
    provenance: list[tuple[str, str]] = field(default_factory=list)  # (field, value) from the runs' run.json
    warnings: list[str] = field(default_factory=list)  # incomplete or mixed runs, unpaired tasks, missing run.json
    agreement: tuple[int, int] | None = None  # judge-human (agreeing, labelled), from the judge sample sheets
    results: list[TaskResult] = field(default_factory=list)


def arm_order(results: Sequence[TaskResult]) -> list[str]:
    """baseline, coach, frozen first (in that order), then any other arm as first seen."""
    seen = list(dict.fromkeys(r.arm for r in results))
    known = [a for a in ("baseline", "coach", "frozen") if a in seen]
    return known + [a for a in seen if a not in known]


Unit = tuple[str, int]  # (task id, repeat)


def build_report(results: Sequence[TaskResult], planned: dict[str, int] | None = None) -> Report:
    """All the numbers, from the latest result per (arm, task, repeat) (see results.latest); `planned` is the number
    of runs per arm the run.json files planned."""
    arms = arm_order(results)
    counted = [r for r in results if r.error is None]
    units = {a: {(r.task_id, r.repeat) for r in counted if r.arm == a} for a in arms}
    shared: set[Unit] = set.intersection(*units.values()) if units else set()
    paired = [r for r in counted if (r.task_id, r.repeat) in shared]
    by_arm = {a: sorted((r for r in paired if r.arm == a), key=lambda r: (r.repeat, r.order)) for a in arms}
    every = {a: [r for r in counted if r.arm == a] for a in arms}
    return Report(
        arms=[
            _arm_stats(a, by_arm[a], every[a], sum(r.error is not None for r in results if r.arm == a), (planned or {}).get(a))
            for a in arms
        ],
        paired=[_paired(a, b, by_arm[a], by_arm[b]) for a, b in combinations(arms, 2)],
        sites=_sites(paired, arms),
        curves={a: _cumulative(by_arm[a]) for a in arms},
        blocks={a: _blocks(by_arm[a]) for a in arms},
        interventions=[_interventions(a, by_arm[a]) for a in arms if a != "baseline"],
        failures={a: _failures(every[a]) for a in arms},
        usage={a: _usage(every[a]) for a in arms},
        repeats=_repeats(by_arm),
        unpaired=len(counted) - len(paired),
        results=list(results),
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _arm_stats(arm: str, runs: Sequence[TaskResult], every: Sequence[TaskResult], errors: int, planned: int | None) -> ArmStats:
    successes = sum(r.judged_success for r in runs)
    tokens = [r.total_tokens for r in runs if r.total_tokens is not None]
    costs = [r.cost for r in runs if r.cost is not None]
    return ArmStats(
        arm=arm,
        n=len(runs),
        successes=successes,
        ci=wilson(successes, len(runs)),
        unjudged=sum(r.verdict is None for r in runs),
        errors=errors,
        planned=planned,
        finished=len(every),
        all_successes=sum(r.judged_success for r in every),
        mean_steps=_mean([r.steps for r in runs if r.judged_success]),
        mean_seconds=_mean([r.seconds for r in runs]),
        total_tokens=sum(tokens) if tokens else None,
        cost=sum(costs) if costs else None,
        excluded=sum(len(r.excluded_episodes) for r in every),
    )


def _paired(a: str, b: str, runs_a: Sequence[TaskResult], runs_b: Sequence[TaskResult]) -> Paired:
    other = {(r.task_id, r.repeat): r.judged_success for r in runs_b}
    pairs = [(r.judged_success, other[(r.task_id, r.repeat)]) for r in runs_a if (r.task_id, r.repeat) in other]
    both = sum(x and y for x, y in pairs)
    only_a = sum(x and not y for x, y in pairs)
    only_b = sum(y and not x for x, y in pairs)
    diff, low, high = paired_difference(both, only_a, only_b, len(pairs) - both - only_a - only_b)
    return Paired(
        a=a,
        b=b,
        n=len(pairs),
        both=both,
        only_a=only_a,
        only_b=only_b,
        p_value=mcnemar_exact(only_a, only_b),
        diff=diff,
        diff_ci=(low, high),
    )


def _sites(runs: Sequence[TaskResult], arms: Sequence[str]) -> dict[str, dict[str, SiteStats]]:
    table: dict[str, dict[str, SiteStats]] = {}
    for site in sorted({r.site for r in runs}):
        table[site] = {}
        for arm in arms:
            mine = [r for r in runs if r.site == site and r.arm == arm]
            wins = sum(r.judged_success for r in mine)
            table[site][arm] = SiteStats(successes=wins, n=len(mine), ci=wilson(wins, len(mine)))
    return table


def _cumulative(runs: Sequence[TaskResult]) -> list[float]:
    curve: list[float] = []
    wins = 0
    for i, r in enumerate(runs, start=1):
        wins += r.judged_success
        curve.append(wins / i)
    return curve


def _blocks(runs: Sequence[TaskResult], count: int = 5) -> list[tuple[int, int, float]]:
    """Success rate in up to `count` consecutive, near-equal blocks of the run order (1-based run numbers)."""
    n = len(runs)
    if n == 0:
        return []
    parts = min(count, n)
    out: list[tuple[int, int, float]] = []
    for i in range(parts):
        lo, hi = i * n // parts, (i + 1) * n // parts
        chunk = runs[lo:hi]
        out.append((lo + 1, hi, sum(r.judged_success for r in chunk) / len(chunk)))
    return out


def _failures(runs: Sequence[TaskResult]) -> dict[str, int]:
    """How many failed runs showed each failure mode (a run may show several); 'none recorded' when it showed none."""
    kinds: Counter[str] = Counter()
    for r in runs:
        if not r.judged_success:
            kinds.update(set(r.failure_kinds) or {"none recorded"})
    return dict(kinds.most_common())


def _usage(runs: Sequence[TaskResult]) -> dict[str, dict[str, float]]:
    roles: dict[str, dict[str, float]] = {}
    for r in runs:
        for role, u in r.usage.items():
            total = roles.setdefault(role, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0})
            total["calls"] += u.calls
            total["prompt_tokens"] += u.prompt_tokens
            total["completion_tokens"] += u.completion_tokens
            if u.cost is not None:
                total["cost"] = total.get("cost", 0.0) + u.cost
    return roles


def _repeats(by_arm: dict[str, list[TaskResult]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for arm, runs in by_arm.items():
        repeats = sorted({r.repeat for r in runs})
        if len(repeats) > 1:
            out[arm] = [_mean([r.judged_success for r in runs if r.repeat == k]) for k in repeats]
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
        success_with=_mean([r.judged_success for r in with_advice]) if with_advice else None,
        success_without=_mean([r.judged_success for r in without]) if without else None,
        by_trigger=dict(Counter(a.trigger for r in runs for a in r.interventions).most_common()),
        top_cited=cited.most_common(5),
    )
