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
from webcoach.tasks.stats import build_report, mcnemar_exact, wilson

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
    _write_run(tmp_path / "run", run_rows, partial_tail=True)
    raw = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines() if line.endswith("}")]
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for r in raw:
        last[(r["arm"], r["task_id"])] = r
    counted = {arm: [r for r in last.values() if r["arm"] == arm and not r.get("error")] for arm in ("baseline", "coach")}

    report = build_report(load_results([tmp_path / "run"]))
    stats = {a.arm: a for a in report.arms}
    assert list(stats) == ["baseline", "coach"]
    for arm, rows in counted.items():
        wins = sum(r["verdict"] is True for r in rows)
        s = stats[arm]
        assert (s.n, s.successes) == (len(rows), wins)
        assert s.ci == wilson(wins, len(rows))
        assert s.unjudged == sum(r["verdict"] is None for r in rows)
        assert s.mean_steps == pytest.approx(sum(r["steps"] for r in rows) / len(rows))
        assert s.mean_seconds == pytest.approx(sum(r["seconds"] for r in rows) / len(rows))
        assert s.total_tokens == sum(r["total_tokens"] for r in rows)
    assert stats["baseline"].errors == 1 and stats["coach"].errors == 0

    by_task = {arm: {r["task_id"]: r["verdict"] is True for r in rows} for arm, rows in counted.items()}
    shared = by_task["baseline"].keys() & by_task["coach"].keys()
    only_base = sum(by_task["baseline"][t] and not by_task["coach"][t] for t in shared)
    only_coach = sum(by_task["coach"][t] and not by_task["baseline"][t] for t in shared)
    (pair,) = report.paired
    assert (pair.a, pair.b, pair.n, pair.only_a, pair.only_b) == ("baseline", "coach", len(shared), only_base, only_coach)
    assert pair.p_value == mcnemar_exact(only_base, only_coach)

    for site in SITES:
        rows = [r for r in counted["coach"] if r["site"] == site]
        assert report.sites[site]["coach"] == (sum(r["verdict"] is True for r in rows), len(rows))

    ordered = sorted(counted["coach"], key=lambda r: r["order"])
    assert report.curves["coach"][9] == pytest.approx(sum(r["verdict"] is True for r in ordered[:10]) / 10)
    assert report.curves["coach"][-1] == pytest.approx(stats["coach"].rate)
    assert [(lo, hi) for lo, hi, _ in report.blocks["coach"]] == [(1, 6), (7, 12), (13, 18), (19, 24), (25, 31)]

    (advice,) = report.interventions
    advised = [r for r in counted["coach"] if r["interventions"]]
    assert advice.arm == "coach" and advice.runs_with == len(advised) and advice.total == len(advised)
    assert advice.success_with == pytest.approx(sum(r["verdict"] is True for r in advised) / len(advised))
    assert sum(advice.by_trigger.values()) == len(advised)


def test_report_files_markdown_plots_and_a_self_contained_page(tmp_path: Path, run_rows: list[dict[str, Any]]) -> None:
    _write_run(tmp_path / "run", run_rows)
    report, files = write_report([tmp_path / "run"])
    coach = next(a for a in report.arms if a.arm == "coach")
    md = files.markdown.read_text(encoding="utf-8")
    rate = f"{100 * coach.rate:.1f}%"
    ci = f"{100 * coach.ci[0]:.1f}% - {100 * coach.ci[1]:.1f}%"
    assert re.search(rf"\| coach \| {coach.n} \| {coach.successes} \| {re.escape(rate)} \| {re.escape(ci)} \|", md)
    assert "## Paired comparison (exact McNemar test)" in md and "## Per site" in md and "## Coach interventions" in md
    assert "| baseline | GitHub--31 | ModelError: overloaded |" in md  # the error that was never run again
    assert [p.name for p in files.plots] == ["success_by_arm.png", "learning_curve.png", "per_site.png"]
    for plot in files.plots:
        assert plot.read_bytes().startswith(b"\x89PNG") and f"]({plot.name})" in md
    page = files.html.read_text(encoding="utf-8")
    assert page.count("src='data:image/png;base64,") == 3
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
    assert ("baseline", "Allrecipes--0") in finished(read_results(path))

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
