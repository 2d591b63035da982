"""`webcoach report DIR`: an eval run's results as tables (terminal, Markdown), PNG plots and one self-contained HTML page.

Several DIRs (the shards of one benchmark) are merged: the latest result per (arm, task) counts. Harness errors are
left out of every rate (and listed); a run the judge could not score counts as a failure.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webcoach.errors import ConfigError, InputError
from webcoach.tasks.results import TaskResult, latest, read_results, results_path
from webcoach.tasks.stats import Report, build_report

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from rich.console import RenderableType

PLOTS_HINT = "plots need matplotlib: pip install 'webcoach[eval]' (or pass --no-plots)"


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
    """The latest result per (arm, task) over one or more eval output folders."""
    found: list[TaskResult] = []
    for d in dirs:
        found.extend(read_results(results_path(d)))
    if not found:
        raise InputError(f"no results in {', '.join(map(str, dirs))}: has the eval run finished any task yet?")
    return latest(found)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def tables(report: Report) -> list[Table]:
    out = [
        Table(
            title="Success by arm",
            headers=[
                "arm",
                "tasks",
                "success",
                "rate",
                "95% CI",
                "unjudged",
                "errors",
                "avg steps",
                "avg time",
                "tokens",
                "cost",
            ],
            rows=[
                [
                    a.arm,
                    str(a.n),
                    str(a.successes),
                    _pct(a.rate),
                    f"{_pct(a.ci[0])} - {_pct(a.ci[1])}",
                    str(a.unjudged),
                    str(a.errors),
                    f"{a.mean_steps:.1f}",
                    f"{a.mean_seconds:.1f}s",
                    f"{a.total_tokens:,}" if a.total_tokens is not None else "-",
                    f"${a.cost:.2f}" if a.cost is not None else "-",
                ]
                for a in report.arms
            ],
            note="95% CI: Wilson score interval. Unjudged runs count as failures; harness errors are left out.",
        )
    ]
    if report.paired:
        out.append(
            Table(
                title="Paired comparison (exact McNemar test)",
                headers=["A", "B", "paired tasks", "both succeed", "only A", "only B", "p-value"],
                rows=[[p.a, p.b, str(p.n), str(p.both), str(p.only_a), str(p.only_b), _p(p.p_value)] for p in report.paired],
                note="Only the discordant tasks (one arm succeeded, the other failed) carry evidence; p is two-sided.",
            )
        )
    arms = [a.arm for a in report.arms]
    out.append(
        Table(
            title="Per site",
            headers=["site", *arms],
            rows=[
                [site, *(f"{s}/{n} ({_pct(s / n)})" if n else "-" for s, n in (cells.get(a, (0, 0)) for a in arms))]
                for site, cells in report.sites.items()
            ],
        )
    )
    width = max((len(b) for b in report.blocks.values()), default=0)
    if width:
        ranges = next(b for b in report.blocks.values() if len(b) == width)
        out.append(
            Table(
                title="Learning: success rate over the task order",
                headers=["arm", *(f"tasks {lo}-{hi}" for lo, hi, _ in ranges)],
                rows=[
                    [arm, *(_pct(rate) for _, _, rate in report.blocks[arm]), *["-"] * (width - len(report.blocks[arm]))]
                    for arm in arms
                    if report.blocks[arm]
                ],
                note="Tasks in run order, in consecutive blocks; the coach arm's memory grows from left to right.",
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


def rich_tables(report: Report) -> list[RenderableType]:
    from rich.table import Table as RichTable

    rendered: list[RenderableType] = []
    for t in tables(report):
        table = RichTable(*t.headers, title=t.title, caption=t.note or None, title_justify="left")
        for row in t.rows:
            table.add_row(*row)
        rendered.append(table)
    return rendered


def markdown(report: Report, plots: Sequence[Path] = ()) -> str:
    lines = ["# webcoach eval report", ""]
    for t in tables(report):
        lines += [f"## {t.title}", "", "| " + " | ".join(t.headers) + " |", "|" + "---|" * len(t.headers)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in t.rows]
        lines += ["", t.note, ""] if t.note else [""]
    if plots:
        lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
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
        data = base64.b64encode(p.read_bytes()).decode("ascii")
        parts.append(
            f"<h2>{html.escape(p.stem.replace('_', ' '))}</h2><img alt='{html.escape(p.stem)}' src='data:image/png;base64,{data}'>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _figure_class() -> type[Figure]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(PLOTS_HINT) from None
    return Figure


def check_plotting() -> None:
    """Raise the one-line ConfigError naming the `eval` extra when matplotlib is missing."""
    _figure_class()


def plot(report: Report, out_dir: Path) -> list[Path]:
    """success_by_arm.png, learning_curve.png and (with several sites) per_site.png. matplotlib's object API only:
    no pyplot, so no global backend or state is touched."""
    figure = _figure_class()
    from matplotlib.ticker import MaxNLocator

    arms = report.arms
    made: list[Path] = []

    fig = figure(figsize=(1.6 + 1.4 * len(arms), 3.6))
    ax = fig.add_subplot()
    rates = [a.rate * 100 for a in arms]
    errs = [[(a.rate - a.ci[0]) * 100 for a in arms], [(a.ci[1] - a.rate) * 100 for a in arms]]
    ax.bar([a.arm for a in arms], rates, yerr=errs, capsize=6, color=_colours(len(arms)))
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Success by arm (95% Wilson CI)")
    made.append(_save(fig, out_dir / "success_by_arm.png"))

    fig = figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    for arm, colour in zip(arms, _colours(len(arms)), strict=True):
        curve = report.curves.get(arm.arm, [])
        ax.plot(range(1, len(curve) + 1), [c * 100 for c in curve], label=arm.arm, color=colour)
    ax.set_xlabel("tasks done (run order)")
    ax.set_ylabel("cumulative success rate (%)")
    ax.set_ylim(-3, 103)  # a curve at 0% or 100% stays visible off the frame
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Learning curve")
    ax.legend()
    made.append(_save(fig, out_dir / "learning_curve.png"))

    if len(report.sites) > 1:
        sites = list(report.sites)
        fig = figure(figsize=(max(6.4, 0.9 * len(sites) * max(1, len(arms)) / 2), 3.8))
        ax = fig.add_subplot()
        width = 0.8 / max(1, len(arms))
        for k, (arm, colour) in enumerate(zip(arms, _colours(len(arms)), strict=True)):
            cells = [report.sites[s].get(arm.arm, (0, 0)) for s in sites]
            ax.bar(
                [i + k * width for i in range(len(sites))],
                [100 * s / n if n else 0 for s, n in cells],
                width,
                label=arm.arm,
                color=colour,
            )
        ax.set_xticks([i + width * (len(arms) - 1) / 2 for i in range(len(sites))], sites, rotation=30, ha="right")
        ax.set_ylabel("success rate (%)")
        ax.set_ylim(0, 100)
        ax.set_title("Success by site")
        ax.legend()
        made.append(_save(fig, out_dir / "per_site.png"))
    return made


def _colours(n: int) -> list[str]:
    palette = ["#7f7f7f", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    return [palette[i % len(palette)] for i in range(n)]


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def write_report(
    dirs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str] | None = None, *, plots: bool = True
) -> tuple[Report, ReportFiles]:
    """Build the report of one or more eval folders; write report.md, report.html and the plots into `out_dir` (default:
    the first folder)."""
    if plots:
        check_plotting()
    report = build_report(load_results(dirs))
    target = Path(out_dir) if out_dir is not None else Path(dirs[0])
    target.mkdir(parents=True, exist_ok=True)
    made = plot(report, target) if plots else []
    md, page = target / "report.md", target / "report.html"
    md.write_text(markdown(report, made), encoding="utf-8")
    page.write_text(html_page(report, made), encoding="utf-8")
    return report, ReportFiles(markdown=md, html=page, plots=made)
