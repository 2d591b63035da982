"""Eval reports: Wilson intervals and exact McNemar tests on known values, every reported number recomputed here from
the raw results.jsonl, shards merged, and the Markdown / PNG / self-contained HTML outputs."""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.errors import ConfigError, InputError
from webcoach.tasks.report import load_results, write_report
from webcoach.tasks.results import TaskResult, append_result, cut_partial_line, finished, read_results
from webcoach.tasks.stats import build_report, mcnemar_exact, paired_difference, wilson

SITES = ("Allrecipes", "GitHub", "Apple")


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (8, 10, 0.4902, 0.9433),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (47, 100, 0.3751, 0.5671),
        (1, 1, 0.2065, 1.0),
    ],
)
def test_wilson_interval_known_values(successes: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson(successes, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_wilson_without_data_is_uninformative() -> None:
    assert wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (1, 9, 22 / 1024),  # 2 * P(X <= 1), X ~ Bin(10, 1/2) = 2 * 11/1024
        (9, 1, 22 / 1024),
        (0, 6, 2 / 64),
        (5, 5, 1.0),
        (0, 0, 1.0),
        (3, 4, 1.0),
        (2, 12, 2 * (1 + 14 + 91) / 2**14),
    ],
)
def test_mcnemar_exact_known_values(b: int, c: int, p: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-12)


def test_mcnemar_stays_exact_for_large_counts() -> None:
    p = mcnemar_exact(300, 200)
    assert 0 < p < 1e-5
    assert mcnemar_exact(1000, 1000) == 1.0


def _row(rng: random.Random, arm: str, order: int, **over: Any) -> dict[str, Any]:
    success = rng.random() < (0.45 if arm == "baseline" else 0.6)
    verdict: bool | None = success if rng.random() > 0.1 else None
    advice = []
    if arm != "baseline" and rng.random() < 0.5:
        advice = [
            {"text": "use the catalog", "episode_ids": [f"ep{rng.randint(1, 4)}"], "trigger": rng.choice(["start", "loop"])}
        ]
    row = {
        "arm": arm,
        "task_id": f"{SITES[order % 3]}--{order}",
        "site": SITES[order % 3],
        "order": order,
        "question": f"task {order}",
        "start_url": "https://example.com/",
        "success": verdict is True,
        "verdict": verdict,
        "judge": "llm:function",
        "judge_reason": "because",
        "steps": rng.randint(3, 15),
        "seconds": round(rng.uniform(20, 90), 2),
        "total_tokens": rng.randint(1000, 5000),
        "interventions": advice,
    }
    return {**row, **over}


def _write_run(folder: Path, rows: list[dict[str, Any]], *, partial_tail: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.jsonl"
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if partial_tail:
        text += json.dumps(rows[0])[:40]  # a write cut short by a kill
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def run_rows() -> list[dict[str, Any]]:
    rng = random.Random(7)
    rows = [_row(rng, arm, order) for order in range(30) for arm in ("baseline", "coach")]
    # a harness error, later run again: only the second row counts
    rows.append(_row(rng, "coach", 30, error="BrowserError: chromium died", success=False, verdict=None))
    rows.append(_row(rng, "coach", 30, success=True, verdict=True))
    rows.append(_row(rng, "baseline", 30, success=False, verdict=False))
    # a harness error never run again: left out of every rate
    rows.append(_row(rng, "baseline", 31, error="ModelError: overloaded", success=False, verdict=None))
    return rows


def test_report_numbers_match_a_recount_of_the_raw_jsonl(tmp_path: Path, run_rows: list[dict[str, Any]]) -> None:
    # A row whose verdict is null but whose `success` says True (an old or hand-edited file) must never count.
    run_rows[0] = {**run_rows[0], "verdict": None, "success": True}
    _write_run(tmp_path / "run", run_rows, partial_tail=True)
    raw = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines() if line.endswith("}")]
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for r in raw:
        last[(r["arm"], r["task_id"])] = r
    finished = {arm: [r for r in last.values() if r["arm"] == arm and not r.get("error")] for arm in ("baseline", "coach")}
    both_arms = {r["task_id"] for r in finished["baseline"]} & {r["task_id"] for r in finished["coach"]}
    counted = {arm: [r for r in rows if r["task_id"] in both_arms] for arm, rows in finished.items()}

    report = build_report(load_results([tmp_path / "run"]))
    stats = {a.arm: a for a in report.arms}
    assert list(stats) == ["baseline", "coach"]
    assert report.unpaired == sum(len(r) for r in finished.values()) - sum(len(r) for r in counted.values())
    for arm, rows in counted.items():
        wins = sum(r["verdict"] is True for r in rows)
        s = stats[arm]
        assert (s.n, s.successes) == (len(rows), wins)
        assert s.ci == wilson(wins, len(rows))
        assert s.unjudged == sum(r["verdict"] is None for r in rows)
        won = [r["steps"] for r in rows if r["verdict"] is True]
        assert s.mean_steps == pytest.approx(sum(won) / len(won))  # successful runs only, as the paper reports
        assert s.mean_seconds == pytest.approx(sum(r["seconds"] for r in rows) / len(rows))
        assert s.total_tokens == sum(r["total_tokens"] for r in rows)
        assert s.finished == len(finished[arm]) and s.all_successes == sum(r["verdict"] is True for r in finished[arm])
    assert stats["baseline"].errors == 1 and stats["coach"].errors == 0

    by_task = {arm: {r["task_id"]: r["verdict"] is True for r in rows} for arm, rows in counted.items()}
    shared = by_task["baseline"].keys() & by_task["coach"].keys()
    both = sum(by_task["baseline"][t] and by_task["coach"][t] for t in shared)
    only_base = sum(by_task["baseline"][t] and not by_task["coach"][t] for t in shared)
    only_coach = sum(by_task["coach"][t] and not by_task["baseline"][t] for t in shared)
    (pair,) = report.paired
    assert (pair.a, pair.b, pair.n, pair.only_a, pair.only_b) == ("baseline", "coach", len(shared), only_base, only_coach)
    assert pair.p_value == mcnemar_exact(only_base, only_coach)
    diff, low, high = _newcombe_independent(both, only_base, only_coach, len(shared) - both - only_base - only_coach)
    assert pair.diff == pytest.approx(diff) and pair.diff_ci == pytest.approx((low, high), abs=1e-6)

    for site in SITES:
        rows = [r for r in counted["coach"] if r["site"] == site]
        cell = report.sites[site]["coach"]
        assert (cell.successes, cell.n) == (sum(r["verdict"] is True for r in rows), len(rows))
        assert cell.ci == wilson(cell.successes, cell.n)

    ordered = sorted(counted["coach"], key=lambda r: r["order"])
    assert report.curves["coach"][9] == pytest.approx(sum(r["verdict"] is True for r in ordered[:10]) / 10)
    assert report.curves["coach"][-1] == pytest.approx(stats["coach"].rate)
    assert [(lo, hi) for lo, hi, _ in report.blocks["coach"]] == [(1, 6), (7, 12), (13, 18), (19, 24), (25, 31)]

    (advice,) = report.interventions
    advised = [r for r in counted["coach"] if r["interventions"]]
    assert advice.arm == "coach" and advice.runs_with == len(advised) and advice.total == len(advised)
    assert advice.success_with == pytest.approx(sum(r["verdict"] is True for r in advised) / len(advised))
    assert sum(advice.by_trigger.values()) == len(advised)


def _wilson_by_bisection(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's interval as the set of p the score test does not reject, found numerically (an independent check)."""
    phat = successes / n

    def inside(p: float) -> bool:
        return (phat - p) ** 2 <= z * z * p * (1 - p) / n

    def edge(lo: float, hi: float, want_inside_at_hi: bool) -> float:
        for _ in range(200):
            mid = (lo + hi) / 2
            if inside(mid) == want_inside_at_hi:
                hi = mid
            else:
                lo = mid
        return (lo + hi) / 2

    low = 0.0 if successes == 0 else edge(0.0, phat, True)
    high = 1.0 if successes == n else edge(phat, 1.0, False)
    return low, high


def _newcombe_independent(a: int, b: int, c: int, d: int) -> tuple[float, float, float]:
    """Newcombe (1998) method 10 from the paper's formulas, with the corrected phi as Fagerland, Lydersen and Laake
    (2014) give it, on bisection-found Wilson limits."""
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = _wilson_by_bisection(a + b, n)
    l2, u2 = _wilson_by_bisection(a + c, n)
    denominator = ((a + b) * (c + d) * (a + c) * (b + d)) ** 0.5
    cross = a * d - b * c
    corrected = cross - n / 2 if cross > n / 2 else (0 if cross >= 0 else cross)
    phi = corrected / denominator if denominator else 0.0
    delta = p2 - p1
    lower = delta - ((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2) ** 0.5
    upper = delta + ((u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2) ** 0.5
    return delta, max(-1.0, lower), min(1.0, upper)


def test_wilson_matches_an_independent_solution_and_holds_its_rate_for_every_n() -> None:
    for n in range(1, 101):
        for successes in {0, 1, n // 2, n - 1, n}:
            low, high = wilson(successes, n)
            assert (low, high) == pytest.approx(_wilson_by_bisection(successes, n), abs=1e-9)
            assert 0.0 <= low <= successes / n <= high <= 1.0  # never a negative error bar
        assert wilson(0, n)[0] == 0.0 and wilson(n, n)[1] == 1.0


@pytest.mark.parametrize(
    ("a", "b", "c", "d"), [(10, 0, 0, 0), (0, 0, 0, 7), (3, 0, 5, 2), (8, 1, 6, 15), (0, 4, 0, 0), (40, 9, 17, 34)]
)
def test_paired_difference_matches_newcombe(a: int, b: int, c: int, d: int) -> None:
    diff, low, high = paired_difference(a, b, c, d)
    assert (diff, low, high) == pytest.approx(_newcombe_independent(a, b, c, d), abs=1e-6)
    assert -1.0 <= low <= diff <= high <= 1.0


@pytest.mark.parametrize("n", [1, 3, 6, 7, 10, 12, 13, 25, 100])
@pytest.mark.parametrize("all_succeed", [True, False])
def test_report_at_0_and_100_percent_draws_and_writes_everything(tmp_path: Path, n: int, all_succeed: bool) -> None:
    rng = random.Random(n)
    rows = [
        _row(rng, arm, i, success=all_succeed, verdict=all_succeed, site=SITES[0])
        for i in range(n)
        for arm in ("baseline", "coach")
    ]
    _write_run(tmp_path / "run", rows)
    report, files = write_report([tmp_path / "run"])
    assert [a.rate for a in report.arms] == [1.0 if all_succeed else 0.0] * 2
    assert files.markdown.exists() and files.html.exists() and len(files.plots) == 3
    (pair,) = report.paired
    assert pair.ci[0] < 0 < pair.ci[1]  # no discordant task, yet never a zero-width interval


def test_report_files_markdown_plots_and_a_self_contained_page(tmp_path: Path, run_rows: list[dict[str, Any]]) -> None:
    _write_run(tmp_path / "run", run_rows)
    report, files = write_report([tmp_path / "run"])
    coach = next(a for a in report.arms if a.arm == "coach")
    md = files.markdown.read_text(encoding="utf-8")
    rate = f"{100 * coach.rate:.1f}%"
    ci = f"{100 * coach.ci[0]:.1f}% - {100 * coach.ci[1]:.1f}%"
    assert re.search(rf"\| coach \| {coach.n} \| {coach.successes} \| {re.escape(rate)} \| {re.escape(ci)} \|", md)
    assert "## Paired comparison by task (difference with 95% CI)" in md and "## Per site" in md
    assert "## Coach interventions" in md and "## Provenance" in md and "## Completion per arm" in md
    assert "## Success rate by arm (paired tasks; 95% CI, task as unit)" in md and "## success_by_arm" not in md
    assert "| baseline | GitHub--31 | ModelError: overloaded |" in md  # the error that was never run again
    assert [p.name for p in files.plots] == ["success_by_arm.png", "paired_difference.png", "learning_curve.png", "per_site.png"]
    for plot in files.plots:
        assert plot.read_bytes().startswith(b"\x89PNG") and f"]({plot.name})" in md
    page = files.html.read_text(encoding="utf-8")
    assert page.count("src='data:image/png;base64,") == 4
    assert not re.search(r"(src|href)=['\"](?!data:)", page)  # nothing loaded from elsewhere
    assert f"<td>{rate}</td>" in page


def test_shards_merge_and_a_rerun_replaces_an_error(tmp_path: Path, run_rows: list[dict[str, Any]]) -> None:
    half = len(run_rows) // 2
    _write_run(tmp_path / "s1", run_rows[:half])
    _write_run(tmp_path / "s2", run_rows[half:])
    merged = load_results([tmp_path / "s1", tmp_path / "s2"])
    assert len(merged) == len({(r["arm"], r["task_id"]) for r in run_rows})
    rerun = next(r for r in merged if r.key == ("coach", "Allrecipes--30", 0))
    assert rerun.error is None and rerun.success
    assert build_report(merged).arms == build_report(load_results([tmp_path / "s1", tmp_path / "s2"])).arms


def test_results_file_reading_and_appending(tmp_path: Path, run_rows: list[dict[str, Any]]) -> None:
    path = _write_run(tmp_path / "run", run_rows[:4], partial_tail=True)
    assert len(read_results(path)) == 4  # the cut-off line is skipped
    assert cut_partial_line(path) and not cut_partial_line(path)
    append_result(path, TaskResult.model_validate(run_rows[4]))
    assert [r.task_id for r in read_results(path)][-1] == run_rows[4]["task_id"]
    assert path.read_text().endswith("}\n")
    assert ("baseline", "Allrecipes--0", 0) in finished(read_results(path))

    lines = path.read_text().splitlines()
    lines[1] = '{"arm": "coach"'
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"results.jsonl line 2 is not a task result"):
        read_results(path)
    with pytest.raises(InputError, match="no such file"):
        read_results(tmp_path / "nothing" / "results.jsonl")


def test_missing_matplotlib_is_a_one_line_error_naming_the_extra(
    tmp_path: Path, run_rows: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_run(tmp_path / "run", run_rows)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ConfigError, match=r"pip install 'webcoach\[eval\]'"):
        write_report([tmp_path / "run"])
    _, files = write_report([tmp_path / "run"], plots=False)
    assert files.plots == [] and files.html.exists()


def test_report_command(tmp_path: Path, run_rows: list[dict[str, Any]]) -> None:
    _write_run(tmp_path / "run", run_rows)
    runner = CliRunner()
    shown = runner.invoke(app, ["report", str(tmp_path / "run"), "--out", str(tmp_path / "rep")])
    assert shown.exit_code == 0, shown.output
    assert "Success by arm" in shown.output and "McNemar" in shown.output
    assert (tmp_path / "rep" / "report.html").exists() and (tmp_path / "rep" / "learning_curve.png").exists()
    as_json = runner.invoke(app, ["report", str(tmp_path / "run"), "--no-plots", "--json"])
    data = json.loads(as_json.output)
    assert [a["arm"] for a in data["arms"]] == ["baseline", "coach"] and "results" not in data
    missing = runner.invoke(app, ["report", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "error:" in missing.output and "no such file" in missing.output


def _manifest(folder: Path, **over: Any) -> None:
    data = {
        "webcoach_version": "0.1.0",
        "arms": ["baseline", "coach"],
        "model": "openai:qwen2.5-vl-32b",
        "base_url": "http://gpu-box:30000/v1",
        "judge": "llm:openai:gpt-4o",
        "task_source": "webvoyager:WebVoyager_data.jsonl sha256:abc",
        "selection": {"sites": "Allrecipes", "limit": 40},
        "tasks": [f"{SITES[i % 3]}--{i}" for i in range(32)],
        "repeats": 1,
        "max_steps": 30,
        "seed": 42,
        "order_seed": 7,
        "started_at": "2026-11-20T10:00:00+00:00",
        "finished_at": "2026-11-20T18:00:00+00:00",
        **over,
    }
    (folder / "run.json").write_text(json.dumps(data), encoding="utf-8")


def test_report_shows_provenance_flags_incomplete_runs_and_refuses_mixed_ones(
    tmp_path: Path, run_rows: list[dict[str, Any]]
) -> None:
    _write_run(tmp_path / "a", run_rows)
    _manifest(tmp_path / "a", tasks=[f"t{i}" for i in range(40)])  # planned 40 tasks, finished 31
    report, files = write_report([tmp_path / "a"], plots=False)
    prov = dict(report.provenance)
    assert prov["agent model"] == "openai:qwen2.5-vl-32b" and prov["judge"] == "llm:openai:gpt-4o"
    assert prov["task source"].startswith("webvoyager:") and prov["max steps"] == "30" and prov["order seed"] == "7"
    assert prov["selection"] == "sites=Allrecipes, limit=40" and prov["started"].startswith("2026-11-20")
    coach = next(a for a in report.arms if a.arm == "coach")
    assert coach.planned == 40 and coach.finished == 31
    assert any(w.startswith("INCOMPLETE: coach finished 31 of 40 planned runs") for w in report.warnings)
    md = files.markdown.read_text()
    assert "| agent model | openai:qwen2.5-vl-32b |" in md and "INCOMPLETE" in md

    _write_run(tmp_path / "b", run_rows[:4])
    _manifest(tmp_path / "b", judge="llm:anthropic:claude-sonnet-4-5")
    with pytest.raises(ConfigError, match=r"differ in judge .*--allow-mixed"):
        write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "merged", plots=False)
    mixed, _ = write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "merged", plots=False, allow_mixed=True)
    assert any(w.startswith("MIXED RUNS: judge differs") for w in mixed.warnings)


def test_latest_result_wins_by_time_not_by_folder_order(tmp_path: Path, run_rows: list[dict[str, Any]]) -> None:
    row = {k: v for k, v in run_rows[0].items()}
    newer = {**row, "success": True, "verdict": True, "finished_at": "2026-11-21T10:00:00Z"}
    older = {**row, "success": False, "verdict": False, "finished_at": "2026-11-20T10:00:00Z"}
    _write_run(tmp_path / "new", [newer])
    _write_run(tmp_path / "old", [older])
    for order in (["new", "old"], ["old", "new"]):
        (kept,) = load_results([tmp_path / d for d in order])
        assert kept.verdict is True


def test_headline_rates_use_only_tasks_every_arm_finished(tmp_path: Path) -> None:
    rng = random.Random(1)
    rows = [_row(rng, "baseline", i, success=False, verdict=False) for i in range(10)]
    rows += [_row(rng, "coach", i, success=True, verdict=True) for i in range(3)]  # the coach arm stopped at 3 of 10
    _write_run(tmp_path / "run", rows)
    report = build_report(load_results([tmp_path / "run"]))
    assert [(a.arm, a.n) for a in report.arms] == [("baseline", 3), ("coach", 3)] and report.unpaired == 7
    (pair,) = report.paired
    assert pair.diff == 1.0 and pair.diff_ci[1] == 1.0 and pair.diff_ci[0] > 0


def test_report_tables_are_not_cut_when_piped(tmp_path: Path, run_rows: list[dict[str, Any]]) -> None:
    _write_run(tmp_path / "run", run_rows)
    shown = CliRunner().invoke(app, ["report", str(tmp_path / "run"), "--no-plots"])  # stdout is not a terminal here
    assert shown.exit_code == 0, shown.output
    assert "…" not in shown.output and "..." not in shown.output
    coach = next(a for a in build_report(load_results([tmp_path / "run"])).arms if a.arm == "coach")
    assert f"{100 * coach.ci[0]:.1f}% - {100 * coach.ci[1]:.1f}%" in shown.output and "Paired comparison" in shown.output


def test_report_prints_text_from_results_as_text_not_terminal_codes_or_markup(tmp_path: Path) -> None:
    rng = random.Random(3)
    hostile = "page said \x1b[2J\x1b]0;owned\x07 [bold red]click here[/bold red]"
    rows = [_row(rng, arm, order) for order in range(4) for arm in ("baseline", "coach")]
    rows.append(_row(rng, "coach", 9, error=f"BrowserError: {hostile}", success=False, verdict=None))
    _write_run(tmp_path / "run", rows)
    shown = CliRunner().invoke(app, ["report", str(tmp_path / "run"), "--no-plots", "--out", str(tmp_path / "rep")])
    assert shown.exit_code == 0, shown.output
    assert "\x1b" not in shown.output and "\x07" not in shown.output
    assert "[bold red]click here[/bold red]" in shown.output  # shown as the page wrote it, not as styling
    written = (tmp_path / "rep" / "report.md").read_text()
    assert "\x1b" not in written and "click here" in written


def test_plots_show_zero_bars_and_coinciding_curves(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    rng = random.Random(3)
    rows = [_row(rng, arm, i, success=False, verdict=False) for i in range(6) for arm in ("baseline", "coach")]
    _write_run(tmp_path / "run", rows)
    saved: list[Figure] = []
    real = Figure.savefig

    def keep(self: Figure, *args: Any, **kw: Any) -> None:
        saved.append(self)
        real(self, *args, **kw)

    import unittest.mock

    with unittest.mock.patch.object(Figure, "savefig", keep):
        write_report([tmp_path / "run"])
    bars, _, curve, sites = (fig.axes[0] for fig in saved)
    assert all(patch.get_window_extent().height > 0 for patch in bars.patches)  # a 0% bar is still drawn
    assert [t.get_text() for t in bars.texts] == ["0%", "0%"]
    lines = curve.get_lines()
    assert len(lines) == 2 and lines[0].get_linestyle() != lines[1].get_linestyle()  # both visible when they coincide
    assert str(lines[0].get_ydata()) == str(lines[1].get_ydata())
    assert all(patch.get_window_extent().height > 0 for patch in sites.patches)
    assert curve.get_title().startswith("Learning curve")
