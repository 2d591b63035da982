"""The eval's statistics with the task as the unit, each figure checked against statsmodels or scipy (or a published
value), on synthetic results files: Wilson, exact McNemar, Newcombe's method 10 with the corrected phi (never
zero-width), the sign test and cluster bootstrap over tasks with repeats (copies of a run never shrink a p-value),
outages left out of both arms, and the power figures."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint
from webcoach.tasks.paired import cluster_bootstrap, compare, corrected_phi, mcnemar_exact, paired_difference, wilson
from webcoach.tasks.power import discordant, plan, power, tasks_needed
from webcoach.tasks.report import build, headline
from webcoach.tasks.stats import build_report


def _row(arm: str, task: int, success: bool, repeat: int = 0, site: str = "Allrecipes", **over: Any) -> dict[str, Any]:
    return {
        "arm": arm,
        "task_id": f"{site}--{task}",
        "site": site,
        "order": task,
        "repeat": repeat,
        "question": f"task {task}",
        "start_url": "https://www.allrecipes.com/",
        "success": success,
        "verdict": success,
        "judge": "llm:openai:judge",
        "judge_reason": "r",
        "steps": 5,
        **over,
    }


def _write(folder: Path, rows: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def _table(both: int, only_a: int, only_b: int, neither: int) -> list[dict[str, Any]]:
    outcomes = [(True, True)] * both + [(True, False)] * only_a + [(False, True)] * only_b + [(False, False)] * neither
    rows = []
    for i, (a, b) in enumerate(outcomes):
        rows += [_row("baseline", i, a), _row("coach", i, b)]
    return rows


# --- one run per task -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("successes", "n"), [(0, 1), (1, 1), (3, 12), (8, 10), (47, 100), (0, 30), (30, 30), (17, 643)])
def test_wilson_matches_statsmodels(successes: int, n: int) -> None:
    assert wilson(successes, n) == pytest.approx(proportion_confint(successes, n, method="wilson"), abs=1e-9)


def test_exact_mcnemar_matches_statsmodels_for_every_small_table() -> None:
    for b in range(25):
        for c in range(25):
            expected = mcnemar([[5, b], [c, 5]], exact=True).pvalue
            assert mcnemar_exact(b, c) == pytest.approx(min(1.0, expected), rel=1e-9, abs=1e-12)
            if b + c:
                assert mcnemar_exact(b, c) == pytest.approx(sps.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)


def _newcombe_reference(a: int, b: int, c: int, d: int) -> tuple[float, float, float]:
    """Method 10 as Fagerland, Lydersen and Laake (2014) print it, on statsmodels' Wilson limits."""
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = proportion_confint(a + b, n, method="wilson")
    l2, u2 = proportion_confint(a + c, n, method="wilson")
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    cross: float = a * d - b * c
    if cross > n / 2:
        cross -= n / 2
    elif cross >= 0:
        cross = 0
    phi = cross / margins**0.5 if margins else 0.0
    delta = p2 - p1
    low = delta - ((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2) ** 0.5
    high = delta + ((u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2) ** 0.5
    return delta, max(-1.0, low), min(1.0, high)


def test_newcombe_with_the_corrected_phi_matches_the_published_formula_and_is_never_zero_width() -> None:
    for n in range(1, 13):
        for a in range(n + 1):
            for b in range(n + 1 - a):
                for c in range(n + 1 - a - b):
                    d = n - a - b - c
                    diff, low, high = paired_difference(a, b, c, d)
                    assert (diff, low, high) == pytest.approx(_newcombe_reference(a, b, c, d), abs=1e-9)
                    assert low < diff < high or (diff in (-1.0, 1.0) and low < high)  # width, also with no discordant pair
    # The review's figures: n=20, +15 pts (6/2/5/7): -11.2 to +38.2 (the uncorrected phi gave -9.4 to +36.6);
    # 6/0/0/6 (no discordant pair): about -14.2 to +14.2, not "+0.0 to +0.0".
    assert [round(100 * x, 1) for x in paired_difference(6, 2, 5, 7)] == [15.0, -11.2, 38.2]
    assert [round(100 * x, 1) for x in paired_difference(6, 0, 0, 6)] == [0.0, -14.2, 14.2]
    assert corrected_phi(6, 0, 0, 6) == pytest.approx(30 / 36)


def test_a_one_run_report_uses_the_tasks_table(tmp_path: Path) -> None:
    report = build_report(build([_write(tmp_path / "run", _table(6, 2, 5, 7))]).results)
    (pair,) = report.paired
    assert (pair.tasks, pair.repeats, pair.both, pair.only_a, pair.only_b, pair.neither) == (20, 1, 6, 2, 5, 7)
    assert pair.p_value == pytest.approx(mcnemar([[6, 2], [5, 7]], exact=True).pvalue)
    assert pair.ci == pytest.approx(_newcombe_reference(6, 2, 5, 7)[1:])
    for arm in report.arms:
        assert arm.ci == pytest.approx(proportion_confint(arm.successes, 20, method="wilson"))


# --- repeats: the task is the unit ----------------------------------------------------------------------------------


def test_copied_repeats_never_shrink_the_p_value(tmp_path: Path) -> None:
    """12 tasks x 2 repeats that copy each other (temperature 0): coach better on 4 tasks, never worse. As independent
    pairs that was n=24, p=0.016; by task it is the sign test's 2 * 0.5**4 = 0.125."""
    rows = []
    for i in range(12):
        for r in range(2):
            rows += [_row("baseline", i, i >= 8, repeat=r), _row("coach", i, i >= 4, repeat=r)]
    report = build([_write(tmp_path / "run", rows)])
    (pair,) = report.paired
    assert (pair.tasks, pair.runs, pair.repeats, pair.better_b, pair.better_a) == (12, 24, 2, 4, 0)
    assert pair.p_value == pytest.approx(sps.binomtest(0, 4, 0.5).pvalue) == pytest.approx(0.125)
    assert pair.ci == pytest.approx(_newcombe_reference(4, 0, 4, 4)[1:])  # the tasks' own table
    assert "n=12 tasks x up to 2 repeats" in headline(report)[0] and "p=0.125" in headline(report)[0]


def test_repeats_that_differ_get_a_sign_test_and_a_cluster_bootstrap(tmp_path: Path) -> None:
    rng = random.Random(5)
    rows = []
    for i in range(30):
        base, lift = rng.random() < 0.4, rng.random() < 0.3
        for r in range(3):
            rows += [
                _row("baseline", i, base if rng.random() < 0.8 else not base, repeat=r),
                _row("coach", i, (base or lift) if rng.random() < 0.8 else not (base or lift), repeat=r),
            ]
    report = build([_write(tmp_path / "run", rows)])
    (pair,) = report.paired
    means = {
        arm: {i: np.mean([r["verdict"] for r in rows if r["arm"] == arm and r["order"] == i]) for i in range(30)}
        for arm in ("baseline", "coach")
    }
    deltas = np.array([means["coach"][i] - means["baseline"][i] for i in range(30)])
    wins, losses = int((deltas > 0).sum()), int((deltas < 0).sum())
    assert (pair.tasks, pair.better_b, pair.better_a) == (30, wins, losses)
    assert pair.method.startswith("sign test")
    assert pair.p_value == pytest.approx(sps.binomtest(wins, wins + losses, 0.5).pvalue)
    assert pair.diff == pytest.approx(deltas.mean())
    reference = sps.bootstrap(
        (deltas,), np.mean, n_resamples=20000, method="percentile", confidence_level=0.95, random_state=1
    ).confidence_interval
    assert pair.ci == pytest.approx((reference.low, reference.high), abs=0.02)
    assert cluster_bootstrap(list(deltas), seed=3) == cluster_bootstrap(list(deltas), seed=3)  # reproducible


def test_under_no_effect_copied_repeats_do_not_inflate_false_positives() -> None:
    """The review's simulation: no true effect, repeats that mostly copy each other. Treating runs as pairs rejected
    20% of the time at 3 repeats; by task the test keeps to its level."""
    rng = random.Random(11)
    rejected = 0
    trials = 400
    for _ in range(trials):
        runs_a: dict[str, list[bool]] = {}
        runs_b: dict[str, list[bool]] = {}
        for t in range(12):
            p = rng.random()
            first_a, first_b = rng.random() < p, rng.random() < p
            runs_a[str(t)] = [first_a if rng.random() < 0.9 else rng.random() < p for _ in range(3)]
            runs_b[str(t)] = [first_b if rng.random() < 0.9 else rng.random() < p for _ in range(3)]
        rejected += compare("a", "b", runs_a, runs_b).p_value < 0.05
    assert rejected / trials <= 0.06


def test_identical_fractional_repeats_still_get_an_interval_with_width() -> None:
    runs = {str(t): [True, False] for t in range(6)}
    pair = compare("a", "b", runs, runs)
    assert pair.diff == 0.0 and pair.ci[0] < 0 < pair.ci[1] and pair.p_value == 1.0


# --- outages, sites, advice -----------------------------------------------------------------------------------------


def test_outages_leave_the_task_out_of_both_arms_and_are_counted(tmp_path: Path) -> None:
    rows = _table(4, 1, 3, 2)
    down = "health check: https://www.allrecipes.com/ unreachable: [Errno -3] Temporary failure in name resolution"
    rows += [_row("baseline", 50, False, outage=down, verdict=None), _row("coach", 50, True)]
    rows += [_row("baseline", 51, False, outage=down, verdict=None), _row("coach", 51, False, outage=down, verdict=None)]
    report = build([_write(tmp_path / "run", rows)])
    (pair,) = report.paired
    assert pair.tasks == 10 and report.outage_units == 2
    assert [a.outages for a in report.arms] == [2, 1] and [a.n for a in report.arms] == [10, 10]
    assert any(w.startswith("OUTAGES: 2 task run(s)") for w in report.warnings)
    assert any("3 outage run(s)" in line for line in headline(report))


def test_per_site_differences_advice_by_trigger_and_cited_episodes(tmp_path: Path) -> None:
    advice = [{"text": "use search", "episode_ids": ["ep1"], "trigger": "start"}]
    rows = []
    for i in range(4):
        rows += [_row("baseline", i, False, site="GitHub"), _row("coach", i, True, site="GitHub", interventions=advice)]
    for i in range(4, 7):
        rows += [_row("baseline", i, True), _row("coach", i, i != 4, off_site=i == 5)]
    report = build([_write(tmp_path / "run", rows)])
    github, allrecipes = report.site_paired["GitHub"][0], report.site_paired["Allrecipes"][0]
    assert (github.tasks, github.better_b, github.diff) == (4, 4, 1.0)
    assert (allrecipes.tasks, allrecipes.better_a, allrecipes.diff) == (3, 1, pytest.approx(-1 / 3))
    (coach,) = report.interventions
    (start,) = coach.triggers
    assert (start.runs, start.successes, start.helped, start.hurt) == (4, 4, 4, 0)
    assert [(c.episode_id, c.cited_in, c.helped, c.hurt) for c in coach.cited] == [("ep1", 4, 4, 0)]
    assert report.arms[1].off_site == 1


def test_the_agents_own_claim_is_said_in_the_headline(tmp_path: Path) -> None:
    rows = [{**r, "judge": "agent"} for r in _table(3, 0, 2, 1)]
    report = build([_write(tmp_path / "run", rows)])
    assert headline(report)[0].startswith("NOT JUDGED: success is the agent's own claim")


# --- power ----------------------------------------------------------------------------------------------------------


def test_power_figures_the_review_expects() -> None:
    assert 1500 <= tasks_needed(0.5, 0.05) <= 1700  # +5 pts, one run each, independent arms: ~1,600
    assert 180 <= tasks_needed(0.473, 0.141) <= 215  # the paper's +14 pts: up to ~210 ...
    assert 60 <= tasks_needed(0.473, 0.141, rho=0.65) <= 80  # ... down to ~66 with well-correlated arms
    low = plan(12, 0.5)
    assert low.low and low.note().startswith("LOW POWER: n=12 tasks")
    assert not plan(400, 0.5).low


def test_power_matches_a_simulation_of_mcnemar_with_statsmodels() -> None:
    """Connor's approximation against 2,000 simulated evals of 120 tasks, tested with statsmodels' McNemar (the
    uncorrected normal test the approximation describes)."""
    rng = np.random.default_rng(4)
    n, p_a, lift, rho = 120, 0.45, 0.15, 0.3
    p10, p01 = discordant(p_a, lift, rho)
    p11 = p_a - p10
    cells = rng.multinomial(n, [p11, p10, p01, 1 - p11 - p10 - p01], size=2000)
    hits = [mcnemar([[c[0], c[1]], [c[2], c[3]]], exact=False, correction=False).pvalue < 0.05 for c in cells]
    assert power(n, p_a, lift, rho) == pytest.approx(float(np.mean(hits)), abs=0.04)
