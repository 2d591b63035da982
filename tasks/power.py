"""Power of a paired two-arm eval, with the task as the unit: how likely n tasks are to show a given lift, and how
many tasks a lift needs (two-sided, alpha 0.05, 80% power by default).

Connor's (1987) normal approximation for McNemar's test: with p10 and p01 the chances that a task succeeds under
arm A only and under B only, psi = p10 + p01 and delta = p01 - p10,

    n = (z_{1-alpha/2} * sqrt(psi) + z_{power} * sqrt(psi - delta^2))^2 / delta^2.

psi depends on how correlated the arms' outcomes are (rho): the same tasks tend to be easy for both arms, so psi is
smaller than with independent arms (rho = 0, the worst case). Repeats of a task at temperature 0 mostly copy each
other, so the plan counts tasks, never tasks x repeats."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from webcoach.errors import ConfigError

LIFTS = (0.05, 0.10, 0.14)  # +14 points: the WebCoach paper's lift for its 38B agent on WebVoyager
RHOS = (0.0, 0.3, 0.6)
ENOUGH = 0.8
_N = NormalDist()


def discordant(p_a: float, lift: float, rho: float = 0.0) -> tuple[float, float]:
    """(p10, p01): the chance a task succeeds with A alone, and with B alone, for rates p_a and p_a + lift whose
    outcomes correlate with coefficient rho (clipped to what the two rates allow)."""
    p_b = min(1.0, max(0.0, p_a + lift))
    p11 = p_a * p_b + rho * math.sqrt(p_a * (1 - p_a) * p_b * (1 - p_b))
    p11 = min(min(p_a, p_b), max(max(0.0, p_a + p_b - 1), p11))
    return (p_a - p11, p_b - p11)


def power(n: int, p_a: float, lift: float, rho: float = 0.0, alpha: float = 0.05) -> float:
    """The chance that n tasks show the lift at two-sided level alpha (McNemar, normal approximation)."""
    p10, p01 = discordant(p_a, lift, rho)
    psi, delta = p10 + p01, p01 - p10
    if n <= 0 or delta == 0 or psi <= delta * delta:
        return alpha if delta == 0 else (1.0 if n > 0 else 0.0)
    z = _N.inv_cdf(1 - alpha / 2)
    return _N.cdf((math.sqrt(n) * abs(delta) - z * math.sqrt(psi)) / math.sqrt(psi - delta * delta))


def tasks_needed(p_a: float, lift: float, rho: float = 0.0, alpha: float = 0.05, target: float = ENOUGH) -> int:
    """Tasks (one run each) for `target` power to show the lift at two-sided level alpha."""
    p10, p01 = discordant(p_a, lift, rho)
    psi, delta = p10 + p01, p01 - p10
    if delta == 0:
        raise ValueError("a lift of 0 cannot be shown with any number of tasks")
    z_a, z_b = _N.inv_cdf(1 - alpha / 2), _N.inv_cdf(target)
    return math.ceil((z_a * math.sqrt(psi) + z_b * math.sqrt(max(psi - delta * delta, 0.0))) ** 2 / (delta * delta))


@dataclass(frozen=True, kw_only=True)
class PowerRow:
    lift: float
    rho: float
    power: float  # at the plan's n tasks
    needed: int  # tasks for 80% power


@dataclass(frozen=True, kw_only=True)
class PowerPlan:
    tasks: int
    baseline_rate: float  # the rate the figures assume
    rows: list[PowerRow]
    observed_rate: float | None = None  # the run's own baseline rate, when it had to be moved into range

    @property
    def low(self) -> bool:
        """Under 80% power for the paper's +14 points even with well-correlated arms."""
        return power(self.tasks, self.baseline_rate, LIFTS[-1], RHOS[-1]) < ENOUGH

    def note(self) -> str:
        """One line for beside a headline."""
        at = power(self.tasks, self.baseline_rate, LIFTS[-1], RHOS[0])
        need = [tasks_needed(self.baseline_rate, LIFTS[-1], r) for r in (RHOS[-1], RHOS[0])]
        five = tasks_needed(self.baseline_rate, LIFTS[0], RHOS[0])
        head = "LOW POWER: " if self.low else ""
        start = f"{100 * self.baseline_rate:.0f}%"
        if self.observed_rate is not None:
            start += f" (this run's {100 * self.observed_rate:.0f}% moved into range)"
        return (
            f"{head}n={self.tasks} tasks gives {100 * at:.0f}% power to show +14 pts (the WebCoach paper's lift) from "
            f"{start}; 80% power needs {need[0]}-{need[1]} tasks for +14 pts and ~{five:,} for "
            "+5 pts (one run each; repeats do not add tasks)"
        )


def plan(tasks: int, baseline_rate: float = 0.5) -> PowerPlan:
    """Power at `tasks` tasks and tasks needed, for each lift in LIFTS and arm correlation in RHOS."""
    rate = min(max(baseline_rate, 0.05), 0.95 - LIFTS[-1])  # a 0% or 100% pilot says nothing about the next run's rate
    rows = [
        PowerRow(lift=lift, rho=rho, power=power(tasks, rate, lift, rho), needed=tasks_needed(rate, lift, rho))
        for lift in LIFTS
        for rho in RHOS
    ]
    return PowerPlan(tasks=tasks, baseline_rate=rate, rows=rows, observed_rate=baseline_rate if rate != baseline_rate else None)


def power_text(tasks: int, baseline_rate: float = 0.5, *, repeats: int = 1, sites: int | None = None) -> str:
    """`webcoach eval --plan`: the power of the planned comparison, and the tasks each lift needs, as text."""
    if not 0.0 < baseline_rate < 1.0:
        raise ConfigError(f"--plan-baseline {100 * baseline_rate:g} is not a rate between 0 and 100 (exclusive)")
    made = plan(tasks, baseline_rate)
    where = f" over {sites} site(s)" if sites else ""
    lines = [
        f"Plan: {tasks} tasks{where}, {repeats} run(s) each. The unit is the task: repeats do not add to n.",
        f"Power of the paired comparison (two-sided 5%, McNemar) at {tasks} tasks from a {100 * made.baseline_rate:.0f}% "
        "baseline, and the tasks needed for 80% power, by how correlated the arms' outcomes are:",
        "",
        "lift      " + "".join(f"{f'arms correlated {rho:.1f}':>30}" for rho in RHOS),
    ]
    for lift in LIFTS:
        cells = [r for r in made.rows if r.lift == lift]
        text = "".join(f"{f'{100 * r.power:.0f}% power; needs {r.needed:,}':>30}" for r in cells)
        lines.append(f"+{100 * lift:.0f} pts  {text}")
    lines += ["", made.note(), ""]
    return "\n".join(lines)
