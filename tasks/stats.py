"""The numbers of an eval report, from its results: success rates, the paired comparison between arms with the task
as the unit (see paired.py), per-site rates and paired differences, learning curves, failure categories, LLM use
per role, advice by trigger against the outcome, cited episodes that helped or hurt, outages and off-site runs, and
the power of the comparison. Pure Python (no scipy).

Headline rates use the PAIRED units (task, repeat): those every arm finished without a harness error, and with no
outage in any arm (a site that was down says nothing about either arm), so arms are compared on the same tasks. A run
counts as a success only when its verdict says so (`TaskResult.judged_success`): no verdict is never a success."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

from webcoach.tasks.paired import Comparison, compare, mcnemar_exact, paired_difference, rate_interval, wilson
from webcoach.tasks.power import PowerPlan, plan
from webcoach.tasks.results import TaskResult

__all__ = ["Comparison", "Report", "build_report", "mcnemar_exact", "paired_difference", "wilson"]


@dataclass(frozen=True, kw_only=True)
class ArmStats:
    arm: str
    n: int  # runs counted: the paired units (every arm finished them, no harness error, no outage)
    tasks: int  # distinct tasks among them (the unit of analysis)
    successes: int
    ci: tuple[float, float]  # with the task as the unit (Wilson over tasks, or a cluster bootstrap with repeats)
    unjudged: int  # the judge could not say: counted as failures
    errors: int  # harness errors, not counted (--resume runs them again)
    outages: int  # runs whose site was down: out of every rate (and of memory)
    off_site: int  # counted runs that ended off the task's site
    time_limited: int  # counted runs stopped by the per-task time limit
    planned: int | None  # runs the run.json files planned for this arm (None: unknown)
    finished: int  # runs without a harness error or outage, paired or not
    all_successes: int  # successes over every finished run (paired or not)
    mean_steps: float  # over SUCCESSFUL runs only, as the WebCoach paper reports
    mean_steps_all: float  # over every paired run
    mean_seconds: float
    mean_tokens: float | None  # agent tokens per paired run
    total_tokens: int | None
    cost: float | None
    excluded: int  # episodes of the task itself kept from its coaching, summed over runs

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else 0.0


Paired = Comparison  # the name earlier versions used


@dataclass(frozen=True, kw_only=True)
class SiteStats:
    successes: int
    n: int
    ci: tuple[float, float]


@dataclass(frozen=True, kw_only=True)
class TriggerStats:
    """Runs that got advice from one trigger, against the baseline arm on the same (task, repeat)."""

    trigger: str
    runs: int
    successes: int
    helped: int  # the advised run succeeded where the baseline failed
    hurt: int  # the advised run failed where the baseline succeeded


@dataclass(frozen=True, kw_only=True)
class CitedStats:
    episode_id: str
    cited_in: int  # runs whose advice cited it
    helped: int
    hurt: int


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
    triggers: list[TriggerStats] = field(default_factory=list)
    cited: list[CitedStats] = field(default_factory=list)  # cited episodes, those with most helped + hurt first


@dataclass(frozen=True, kw_only=True)
class Report:
    arms: list[ArmStats]
    paired: list[Comparison]
    sites: dict[str, dict[str, SiteStats]]  # site -> arm -> its paired runs
    curves: dict[str, list[float]]  # arm -> cumulative success rate after each paired run, in run order
    blocks: dict[str, list[tuple[int, int, float]]]  # arm -> (first run, last run, success rate) for up to 5 blocks
    interventions: list[InterventionStats]
    failures: dict[str, dict[str, int]] = field(default_factory=dict)  # arm -> failure kind -> failed runs showing it
    usage: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # arm -> role -> calls/tokens/cost
    repeats: dict[str, list[float]] = field(default_factory=dict)  # arm -> success rate per repeat (with --repeats)
    site_paired: dict[str, list[Comparison]] = field(default_factory=dict)  # site -> each pair of arms on its tasks
    power: PowerPlan | None = None  # for the paired tasks, at the first arm's rate
    outage_units: int = 0  # (task, repeat) units left out because some arm's site was down
    unpaired: int = 0  # finished runs left out of the headline because another arm lacks that unit
    judge_note: str | None = None  # said beside the headline (e.g. success is the agent's own claim)
    provenance: list[tuple[str, str]] = field(default_factory=list)  # (field, value) from the runs' run.json
    warnings: list[str] = field(default_factory=list)  # incomplete or mixed runs, unpaired tasks, missing run.json
    agreement: tuple[int, int] | None = None  # judge-human (agreeing, labelled), from the judge sample sheets
    results: list[TaskResult] = field(default_factory=list)

    @property
    def tasks(self) -> int:
        return max((a.tasks for a in self.arms), default=0)


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
    counted = [r for r in results if r.counted]
    down: set[Unit] = {(r.task_id, r.repeat) for r in results if r.outage is not None and r.error is None}
    units = {a: {(r.task_id, r.repeat) for r in counted if r.arm == a} - down for a in arms}
    shared: set[Unit] = set.intersection(*units.values()) if units else set()
    paired = [r for r in counted if (r.task_id, r.repeat) in shared]
    by_arm = {a: sorted((r for r in paired if r.arm == a), key=lambda r: (r.repeat, r.order)) for a in arms}
    every = {a: [r for r in counted if r.arm == a] for a in arms}
    comparisons = [_compare(a, b, by_arm[a], by_arm[b]) for a, b in combinations(arms, 2)]
    stats = [_arm_stats(a, by_arm[a], every[a], results, (planned or {}).get(a)) for a in arms]
    base = stats[0] if stats else None
    tasks = len({t for t, _ in shared})
    return Report(
        arms=stats,
        paired=comparisons,
        sites=_sites(paired, arms),
        site_paired=_site_paired(by_arm, arms),
        curves={a: _cumulative(by_arm[a]) for a in arms},
        blocks={a: _blocks(by_arm[a]) for a in arms},
        interventions=[_interventions(a, by_arm[a], by_arm.get("baseline", [])) for a in arms if a != "baseline"],
        failures={a: _failures(every[a]) for a in arms},
        usage={a: _usage(every[a]) for a in arms},
        repeats=_repeats(by_arm),
        power=plan(tasks, base.rate) if base is not None and tasks and len(arms) > 1 else None,
        outage_units=len({(r.task_id, r.repeat) for r in results if r.outage is not None and r.error is None}),
        unpaired=len([r for r in counted if (r.task_id, r.repeat) not in down]) - len(paired),
        results=list(results),
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _per_task(runs: Sequence[TaskResult]) -> dict[str, list[bool]]:
    out: dict[str, list[bool]] = {}
    for r in sorted(runs, key=lambda r: r.repeat):
        out.setdefault(r.task_id, []).append(r.judged_success)
    return out


def _arm_stats(
    arm: str, runs: Sequence[TaskResult], every: Sequence[TaskResult], results: Sequence[TaskResult], planned: int | None
) -> ArmStats:
    successes = sum(r.judged_success for r in runs)
    tokens = [r.total_tokens for r in runs if r.total_tokens is not None]
    costs = [r.cost for r in runs if r.cost is not None]
    mine = [r for r in results if r.arm == arm]
    return ArmStats(
        arm=arm,
        n=len(runs),
        tasks=len({r.task_id for r in runs}),
        successes=successes,
        ci=rate_interval(_per_task(runs)),
        unjudged=sum(r.verdict is None for r in runs),
        errors=sum(r.error is not None for r in mine),
        outages=sum(r.outage is not None and r.error is None for r in mine),
        off_site=sum(r.off_site is True for r in runs),
        time_limited=sum(r.time_limited for r in runs),
        planned=planned,
        finished=len(every),
        all_successes=sum(r.judged_success for r in every),
        mean_steps=_mean([r.steps for r in runs if r.judged_success]),
        mean_steps_all=_mean([r.steps for r in runs]),
        mean_seconds=_mean([r.seconds for r in runs]),
        mean_tokens=_mean([float(t) for t in tokens]) if tokens else None,
        total_tokens=sum(tokens) if tokens else None,
        cost=sum(costs) if costs else None,
        excluded=sum(len(r.excluded_episodes) for r in every),
    )


def _compare(a: str, b: str, runs_a: Sequence[TaskResult], runs_b: Sequence[TaskResult]) -> Comparison:
    return compare(a, b, _per_task(runs_a), _per_task(runs_b))


def _site_paired(by_arm: dict[str, list[TaskResult]], arms: Sequence[str]) -> dict[str, list[Comparison]]:
    sites = sorted({r.site for runs in by_arm.values() for r in runs})
    return {
        site: [
            _compare(a, b, [r for r in by_arm[a] if r.site == site], [r for r in by_arm[b] if r.site == site])
            for a, b in combinations(arms, 2)
        ]
        for site in sites
    }


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


def _interventions(arm: str, runs: Sequence[TaskResult], baseline: Sequence[TaskResult]) -> InterventionStats:
    with_advice = [r for r in runs if r.interventions]
    without = [r for r in runs if not r.interventions]
    cited = Counter(i for r in runs for a in r.interventions for i in a.episode_ids)
    base = {(r.task_id, r.repeat): r.judged_success for r in baseline}

    def effect(r: TaskResult) -> tuple[int, int]:
        other = base.get((r.task_id, r.repeat))
        if other is None:
            return (0, 0)
        return (int(r.judged_success and not other), int(other and not r.judged_success))

    triggers: list[TriggerStats] = []
    for trigger in dict.fromkeys(a.trigger for r in with_advice for a in r.interventions):
        got = [r for r in with_advice if any(a.trigger == trigger for a in r.interventions)]
        effects = [effect(r) for r in got]
        triggers.append(
            TriggerStats(
                trigger=trigger,
                runs=len(got),
                successes=sum(r.judged_success for r in got),
                helped=sum(h for h, _ in effects),
                hurt=sum(h for _, h in effects),
            )
        )
    per_episode: dict[str, list[int]] = {}
    for r in with_advice:
        helped, hurt = effect(r)
        for episode in dict.fromkeys(i for a in r.interventions for i in a.episode_ids):
            counts = per_episode.setdefault(episode, [0, 0, 0])
            counts[0] += 1
            counts[1] += helped
            counts[2] += hurt
    ranked = sorted(per_episode.items(), key=lambda kv: (-(kv[1][1] + kv[1][2]), -kv[1][0], kv[0]))
    return InterventionStats(
        arm=arm,
        runs=len(runs),
        total=sum(len(r.interventions) for r in runs),
        runs_with=len(with_advice),
        success_with=_mean([r.judged_success for r in with_advice]) if with_advice else None,
        success_without=_mean([r.judged_success for r in without]) if without else None,
        by_trigger=dict(Counter(a.trigger for r in runs for a in r.interventions).most_common()),
        top_cited=cited.most_common(5),
        triggers=triggers,
        cited=[CitedStats(episode_id=e, cited_in=c[0], helped=c[1], hurt=c[2]) for e, c in ranked],
    )
