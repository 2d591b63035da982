"""`webcoach report DIR...`: an eval run's results as tables (terminal, Markdown), PNG plots and one self-contained
HTML page, under a provenance block read from each folder's run.json.

Several DIRs (the shards of one benchmark) are merged: the latest result per (arm, task, repeat) by finish time counts,
and folders that are not one benchmark (another model, judge, task source...) are refused unless `allow_mixed`, then
flagged. Headline rates are on the tasks every arm finished; harness errors are left out of every rate (and listed);
a run without a verdict counts as a failure; an incomplete run says so."""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from webcoach.condenser.guard import clean
from webcoach.errors import InputError
from webcoach.tasks.judge_sample import agreement
from webcoach.tasks.plots import TITLES, check_plotting, plot
from webcoach.tasks.provenance import load_provenance
from webcoach.tasks.results import TaskResult, latest, read_results, results_path
from webcoach.tasks.stats import Comparison, Report, build_report


@dataclass(frozen=True, kw_only=True)
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass(kw_only=True)
class ReportFiles:
    markdown: Path
    html: Path
    plots: list[Path] = field(default_factory=list)


def load_results(dirs: Sequence[str | os.PathLike[str]]) -> list[TaskResult]:
    """The latest result per (arm, task, repeat) over one or more eval output folders."""
    found: list[TaskResult] = []
    for d in dirs:
        found.extend(read_results(results_path(d)))
    if not found:
        raise InputError(f"no results in {', '.join(map(str, dirs))}: has the eval run finished any task yet?")
    return latest(found)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _ci(ci: tuple[float, float]) -> str:
    return f"{_pct(ci[0])} - {_pct(ci[1])}"


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _pts(x: float) -> str:
    return f"{100 * x:+.1f} pts"


def _units(c: Comparison) -> str:
    return f"n={c.tasks} tasks" + (f" x up to {c.repeats} repeats" if c.repeats > 1 else "")


def headline(report: Report) -> list[str]:
    """The lines a reader sees first: each comparison with its CI, p-value and n in tasks, and beside them what
    limits them (who judged, power, outages, off-site runs)."""
    lines: list[str] = []
    if report.judge_note:
        lines.append(report.judge_note)
    for c in report.paired:
        if not c.tasks:
            lines.append(f"{c.b} vs {c.a}: no task that both finished without an error or outage: nothing to compare")
            continue
        a, b = (next(x for x in report.arms if x.arm == arm) for arm in (c.a, c.b))
        lines.append(
            f"{c.b} {_pct(b.rate)} vs {c.a} {_pct(a.rate)}: {_pts(c.diff)} (95% CI {_pts(c.ci[0])} to {_pts(c.ci[1])}), "
            f"p={_p(c.p_value)}, {_units(c)} ({c.method})"
        )
    if report.power is not None:
        lines.append(report.power.note())
    outages = sum(a.outages for a in report.arms)
    off_site = sum(a.off_site for a in report.arms)
    if outages or off_site:
        lines.append(
            f"{outages} outage run(s) ({report.outage_units} task runs left out of every arm); "
            f"{off_site} counted run(s) ended off the task's site"
        )
    return lines


def _arm_tables(report: Report) -> list[Table]:
    n = report.arms[0].n if report.arms else 0
    return [
        Table(
            title="Success by arm (paired tasks)",
            headers=[
                "arm",
                "runs",
                "success",
                "rate",
                "95% CI",
                "tasks",
                "unjudged",
                "avg steps (successes)",
                "avg steps",
                "avg time",
                "avg tokens",
                "tokens",
                "cost",
            ],
            rows=[
                [
                    a.arm,
                    str(a.n),
                    str(a.successes),
                    _pct(a.rate),
                    _ci(a.ci),
                    str(a.tasks),
                    str(a.unjudged),
                    f"{a.mean_steps:.1f}" if a.successes else "-",
                    f"{a.mean_steps_all:.1f}",
                    f"{a.mean_seconds:.1f}s",
                    f"{a.mean_tokens:,.0f}" if a.mean_tokens is not None else "-",
                    f"{a.total_tokens:,}" if a.total_tokens is not None else "-",
                    f"${a.cost:.2f}" if a.cost is not None else "-",
                ]
                for a in report.arms
            ],
            note=f"On the {n} runs every arm finished without a harness error or outage ({report.unpaired} other finished "
            "runs left out). 95% CI with the task as the unit: Wilson over tasks, or a cluster bootstrap over tasks when "
            "a task's repeats differ. A run without a verdict counts as a failure. Steps, time and tokens: per run.",
        ),
        Table(
            title="Completion per arm",
            headers=[
                "arm",
                "planned",
                "finished",
                "harness errors",
                "outages",
                "off-site",
                "time limit hit",
                "success (all finished)",
                "own episodes kept out",
            ],
            rows=[
                [
                    a.arm,
                    str(a.planned) if a.planned is not None else "?",
                    str(a.finished),
                    str(a.errors),
                    str(a.outages),
                    str(a.off_site),
                    str(a.time_limited),
                    f"{a.all_successes}/{a.finished}",
                    str(a.excluded),
                ]
                for a in report.arms
            ],
            note="Outages: the site was down (health check, or the start page never loaded): not judged, not stored, and "
            "the task's run left out of every arm. Off-site: counted runs that ended off the task's site. Own episodes "
            "kept out: memory held episodes of the very task being run; they were excluded from its coaching.",
        ),
    ]


def _comparison_row(label: list[str], c: Comparison) -> list[str]:
    return [
        *label,
        str(c.tasks),
        str(c.repeats),
        str(c.better_b),
        str(c.better_a),
        str(c.ties),
        _pts(c.diff),
        f"{_pts(c.ci[0])} to {_pts(c.ci[1])}",
        _p(c.p_value),
    ]


def tables(report: Report) -> list[Table]:
    out: list[Table] = [Table(title="Headline", headers=["finding"], rows=[[line] for line in headline(report)])]
    if report.provenance:
        out.append(Table(title="Provenance", headers=["", "value"], rows=[[k, v] for k, v in report.provenance]))
    if report.warnings:
        out.append(Table(title="Warnings", headers=["warning"], rows=[[w] for w in report.warnings]))
    out += _arm_tables(report)
    if report.paired:
        out.append(
            Table(
                title="Paired comparison by task (difference with 95% CI)",
                headers=["A", "B", "tasks", "repeats", "B better", "A better", "ties", "B - A", "95% CI", "p-value"],
                rows=[_comparison_row([p.a, p.b], p) for p in report.paired],
                note="The task is the unit: n counts tasks, never tasks x repeats. One run per task (or repeats that agree): "
                "exact McNemar test, Newcombe's method 10 interval with the corrected correlation term (Fagerland, "
                "Lydersen & Laake 2014). Repeats that differ: exact sign test over tasks and a cluster bootstrap "
                "(tasks resampled whole) of the mean per-task difference. p is two-sided.",
            )
        )
    if report.site_paired and len(report.site_paired) > 1:
        out.append(
            Table(
                title="Paired difference per site",
                headers=["site", "A", "B", "tasks", "repeats", "B better", "A better", "ties", "B - A", "95% CI", "p-value"],
                rows=[_comparison_row([site, c.a, c.b], c) for site, cs in report.site_paired.items() for c in cs],
                note="Each site on its own tasks; with few tasks per site these intervals are wide.",
            )
        )
    if report.power is not None:
        out.append(
            Table(
                title="Power of this comparison",
                headers=["lift", "arm correlation", f"power at {report.power.tasks} tasks", "tasks for 80% power"],
                rows=[[f"+{100 * r.lift:.0f} pts", f"{r.rho:.1f}", _pct(r.power), f"{r.needed:,}"] for r in report.power.rows],
                note=f"From a {_pct(report.power.baseline_rate)} baseline (this run's), two-sided 5%, McNemar (Connor's "
                "approximation); one run per task (repeats do not add tasks). " + report.power.note(),
            )
        )
    arms = [a.arm for a in report.arms]
    out.append(
        Table(
            title="Per site (paired tasks)",
            headers=["site", *(f"{a} (95% CI)" for a in arms)],
            rows=[
                [
                    site,
                    *(
                        f"{c.successes}/{c.n} {_pct(c.successes / c.n)} ({_ci(c.ci)})" if c.n else "-"
                        for c in (cells[a] for a in arms)
                    ),
                ]
                for site, cells in report.sites.items()
            ],
        )
    )
    width = max((len(b) for b in report.blocks.values()), default=0)
    if width:
        ranges = next(b for b in report.blocks.values() if len(b) == width)
        out.append(
            Table(
                title="Learning: success rate over the run order",
                headers=["arm", *(f"runs {lo}-{hi}" for lo, hi, _ in ranges)],
                rows=[
                    [arm, *(_pct(rate) for _, _, rate in report.blocks[arm]), *["-"] * (width - len(report.blocks[arm]))]
                    for arm in arms
                    if report.blocks[arm]
                ],
                note="Runs in order, in consecutive blocks; the coach arm's memory grows from left to right.",
            )
        )
    if report.repeats:
        out.append(
            Table(
                title="Run-to-run variance (--repeats)",
                headers=["arm", "rate per repeat", "spread"],
                rows=[
                    [a, ", ".join(_pct(r) for r in rates), _pct(max(rates) - min(rates))] for a, rates in report.repeats.items()
                ],
            )
        )
    out += _detail_tables(report, arms)
    return out


def _detail_tables(report: Report, arms: list[str]) -> list[Table]:
    out: list[Table] = []
    kinds = list(dict.fromkeys(k for a in arms for k in report.failures.get(a, {})))
    if kinds:
        out.append(
            Table(
                title="Failure categories (failed runs showing each, from the condensed runs)",
                headers=["category", *arms],
                rows=[[k, *(str(report.failures.get(a, {}).get(k, 0)) for a in arms)] for k in kinds],
            )
        )
    usage_rows = [
        [
            a,
            role,
            str(int(u["calls"])),
            f"{int(u['prompt_tokens']):,}",
            f"{int(u['completion_tokens']):,}",
            f"${u['cost']:.2f}" if "cost" in u else "-",
        ]
        for a in arms
        for role, u in sorted(report.usage.get(a, {}).items())
    ]
    if usage_rows:
        out.append(
            Table(
                title="LLM use per arm and role",
                headers=["arm", "role", "calls", "prompt tokens", "completion tokens", "cost"],
                rows=usage_rows,
                note="Every finished run. Cost only where priced (the agent's, with --cost).",
            )
        )
    if report.agreement is not None:
        agree, labelled = report.agreement
        out.append(
            Table(
                title="Judge-human agreement",
                headers=["labelled runs", "agree", "agreement"],
                rows=[[str(labelled), str(agree), _pct(agree / labelled)]],
                note="From the --judge-sample sheets (WebVoyager reports 85.3% for its GPT-4V judge).",
            )
        )
    if report.interventions:
        out.append(
            Table(
                title="Coach interventions",
                headers=["arm", "runs", "interventions", "runs advised", "success advised", "success not advised", "by trigger"],
                rows=[
                    [
                        i.arm,
                        str(i.runs),
                        str(i.total),
                        str(i.runs_with),
                        _pct(i.success_with) if i.success_with is not None else "-",
                        _pct(i.success_without) if i.success_without is not None else "-",
                        ", ".join(f"{k} {v}" for k, v in i.by_trigger.items()) or "-",
                    ]
                    for i in report.interventions
                ],
                note="Advised and unadvised runs differ in more than the advice (the coach speaks when memory holds a similar task).",
            )
        )
    triggers = [
        [i.arm, t.trigger, str(t.runs), _pct(t.successes / t.runs), str(t.helped), str(t.hurt)]
        for i in report.interventions
        for t in i.triggers
        if t.runs
    ]
    if triggers:
        out.append(
            Table(
                title="Advice given vs outcome, by trigger",
                headers=["arm", "trigger", "runs advised", "success", "helped", "hurt"],
                rows=triggers,
                note="Helped: the advised run succeeded where the baseline failed on the same task and repeat; hurt: the "
                "reverse. Advice is not randomised: the coach speaks where memory holds a similar task.",
            )
        )
    cited = [
        [i.arm, c.episode_id, str(c.cited_in), str(c.helped), str(c.hurt)] for i in report.interventions for c in i.cited[:15]
    ]
    if cited:
        out.append(
            Table(
                title="Cited episodes: helped and hurt",
                headers=["arm", "episode", "runs citing it", "helped", "hurt"],
                rows=cited,
                note="Against the baseline on the same task and repeat; the episodes with most helped + hurt first (15 per arm).",
            )
        )
    outages = [r for r in report.results if r.outage is not None and r.error is None]
    if outages:
        out.append(
            Table(
                title="Outages (not counted in any arm; --resume runs them again)",
                headers=["arm", "task", "repeat", "why"],
                rows=[[r.arm, r.task_id, str(r.repeat), r.outage or ""] for r in outages],
            )
        )
    errors = [r for r in report.results if r.error]
    if errors:
        out.append(
            Table(
                title="Harness errors (not counted; --resume runs them again)",
                headers=["arm", "task", "error"],
                rows=[[r.arm, r.task_id, r.error or ""] for r in errors],
            )
        )
    return out


def render_text(report: Report) -> str:
    """The tables for a terminal or a pipe: never cut to the screen's width (a pipe has none)."""
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, width=1000, highlight=False, color_system=None)
    for t in tables(report):
        note = Text(clean(t.note)) if t.note else None
        table = RichTable(*t.headers, title=t.title, caption=note, title_justify="left", caption_justify="left")
        for row in t.rows:
            # Notes and cells carry text from results files (task ids, sites, harness errors that quote a page): plain Text, so
            # neither rich markup nor a terminal escape sequence in them reaches the terminal.
            table.add_row(*(Text(clean(cell)) for cell in row))
        console.print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def markdown(report: Report, plots: Sequence[Path] = ()) -> str:
    lines = ["# webcoach eval report", ""]
    for t in tables(report):
        lines += [f"## {t.title}", "", "| " + " | ".join(t.headers) + " |", "|" + "---|" * len(t.headers)]
        lines += ["| " + " | ".join(clean(cell).replace("|", "\\|") for cell in row) + " |" for row in t.rows]
        lines += ["", t.note, ""] if t.note else [""]
    for p in plots:
        lines += [f"## {TITLES.get(p.stem, p.stem)}", "", f"![{TITLES.get(p.stem, p.stem)}]({p.name})", ""]
    return "\n".join(lines)


def html_page(report: Report, plots: Sequence[Path] = ()) -> str:
    """One self-contained page: the tables, and the plots inlined as base64 PNGs."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>webcoach eval report</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem}",
        "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}",
        "td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:.9em}img{max-width:100%}",
        "</style></head><body><h1>webcoach eval report</h1>",
    ]
    for t in tables(report):
        parts.append(f"<h2>{html.escape(t.title)}</h2><table><tr>")
        parts += [f"<th>{html.escape(h)}</th>" for h in t.headers]
        parts.append("</tr>")
        for row in t.rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
        if t.note:
            parts.append(f"<p class='note'>{html.escape(t.note)}</p>")
    for p in plots:
        title = html.escape(TITLES.get(p.stem, p.stem))
        data = base64.b64encode(p.read_bytes()).decode("ascii")
        parts.append(f"<h2>{title}</h2><img alt='{title}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def build(dirs: Sequence[str | os.PathLike[str]], *, allow_mixed: bool = False) -> Report:
    """The report of one or more eval folders, with their provenance and warnings."""
    prov = load_provenance(dirs, allow_mixed=allow_mixed)
    report = build_report(load_results(dirs), planned=prov.planned)
    warnings = list(prov.warnings)
    for a in report.arms:
        if a.planned is not None and a.finished < a.planned:
            warnings.append(f"INCOMPLETE: {a.arm} finished {a.finished} of {a.planned} planned runs ({a.errors} harness errors)")
    if report.unpaired:
        warnings.append(f"{report.unpaired} finished runs lack a partner in another arm: left out of the headline rates")
    if report.outage_units:
        warnings.append(
            f"OUTAGES: {report.outage_units} task run(s) met a site that was down; they are left out of every arm "
            "(run them again with --resume)"
        )
    agreed = agreement(dirs)
    judges = sorted({r.judge for r in report.results})
    judge_note = None
    if "agent" in judges:
        judge_note = (
            "NOT JUDGED: success is the agent's own claim (--judge agent); no judge checked these runs"
            if judges == ["agent"]
            else f"MIXED JUDGES ({', '.join(judges)}): some runs are scored by the agent's own claim"
        )
    return replace(
        report,
        judge_note=judge_note,
        provenance=prov.lines(),
        warnings=warnings,
        agreement=(agreed.agree, agreed.labelled) if agreed else None,
    )


def write_report(
    dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    plots: bool = True,
    allow_mixed: bool = False,
) -> tuple[Report, ReportFiles]:
    """Build the report of one or more eval folders; write report.md, report.html and the plots into `out_dir` (default:
    the first folder)."""
    if plots:
        check_plotting()
    report = build(dirs, allow_mixed=allow_mixed)
    target = Path(out_dir) if out_dir is not None else Path(dirs[0])
    target.mkdir(parents=True, exist_ok=True)
    made = plot(report, target) if plots else []
    md, page = target / "report.md", target / "report.html"
    md.write_text(markdown(report, made), encoding="utf-8")
    page.write_text(html_page(report, made), encoding="utf-8")
    return report, ReportFiles(markdown=md, html=page, plots=made)
