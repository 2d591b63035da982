"""The report's PNG plots, with matplotlib's object API only (no pyplot: no global backend or state is touched).

Each is readable on its own: a 0% bar still shows (a thin outlined bar with its value written over it), curves that
coincide stay visible (each arm has its own line style and markers), and each has a real title for the pages."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from webcoach.errors import ConfigError
from webcoach.tasks.stats import Report

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PLOTS_HINT = "plots need matplotlib: pip install 'webcoach[eval]' (or pass --no-plots)"
TITLES = {
    "success_by_arm": "Success rate by arm (paired tasks; 95% CI, task as unit)",
    "learning_curve": "Learning curve: cumulative success over the run order",
    "per_site": "Success rate by site (paired tasks, 95% Wilson interval)",
    "paired_difference": "Paired difference B - A by task, with its 95% CI (the quantity tested)",
}
_STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D")]
_MIN_BAR = 0.8  # percentage points: the height a 0% bar is drawn at, so it can be seen


def _figure_class() -> type[Figure]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(PLOTS_HINT) from None
    return Figure


def check_plotting() -> None:
    """Raise the one-line ConfigError naming the `eval` extra when matplotlib is missing."""
    _figure_class()


def colours(n: int) -> list[str]:
    palette = ["#7f7f7f", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    return [palette[i % len(palette)] for i in range(n)]


def _bars(ax: Any, xs: list[float], rates: list[float], cis: list[tuple[float, float]], width: float, **kw: Any) -> None:
    heights = [max(r * 100, _MIN_BAR) for r in rates]
    errs = [[max(0.0, (r - lo) * 100) for r, (lo, _) in zip(rates, cis, strict=True)]]
    errs.append([max(0.0, (hi - r) * 100) for r, (_, hi) in zip(rates, cis, strict=True)])
    ax.bar(xs, heights, width, yerr=errs, capsize=4, edgecolor="black", linewidth=0.6, **kw)
    for x, r in zip(xs, rates, strict=True):
        ax.annotate(
            f"{100 * r:.0f}%", (x, max(r * 100, _MIN_BAR)), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=8
        )


def _differences(report: Report, out_dir: Path) -> Path | None:
    """A forest plot: each comparison over all tasks, then per site, as B - A in points with its 95% CI."""
    figure = _figure_class()
    rows: list[tuple[str, float, tuple[float, float], bool]] = []
    for c in report.paired:
        if not c.tasks:
            continue
        rows.append((f"{c.b} - {c.a}: all (n={c.tasks} tasks)", c.diff, c.ci, True))
        if len(report.site_paired) > 1:
            for site, comparisons in report.site_paired.items():
                s = next(x for x in comparisons if (x.a, x.b) == (c.a, c.b))
                if s.tasks:
                    rows.append((f"   {site} (n={s.tasks})", s.diff, s.ci, False))
    if not rows:
        return None
    fig = figure(figsize=(7.2, 1.2 + 0.38 * len(rows)))
    ax = fig.add_subplot()
    ys = list(range(len(rows)))[::-1]
    for y, (_, diff, (low, high), overall) in zip(ys, rows, strict=True):
        colour = "#1f77b4" if overall else "#7f7f7f"
        ax.errorbar(
            [100 * diff],
            [y],
            xerr=[[100 * (diff - low)], [100 * (high - diff)]],
            fmt="D" if overall else "o",
            color=colour,
            ecolor=colour,
            capsize=4,
            markersize=7 if overall else 5,
            linewidth=2 if overall else 1.2,
        )
        ax.annotate(
            f"{100 * diff:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]",
            (100 * high, y),
            xytext=(6, -3),
            textcoords="offset points",
            fontsize=7,
        )
    ax.axvline(0, color="black", linewidth=0.8, linestyle="--")
    ax.set_yticks(ys, [label for label, *_ in rows], fontsize=8)
    ax.set_xlim(-108, 135)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("B - A success rate (percentage points)")
    ax.set_title(TITLES["paired_difference"], fontsize=9)
    return _save(fig, out_dir / "paired_difference.png")


def plot(report: Report, out_dir: Path) -> list[Path]:
    """success_by_arm.png, paired_difference.png (with two arms or more), learning_curve.png and (with several sites)
    per_site.png."""
    figure = _figure_class()
    from matplotlib.ticker import MaxNLocator

    arms = report.arms
    made: list[Path] = []
    palette = colours(len(arms))

    fig = figure(figsize=(1.6 + 1.4 * len(arms), 3.8))
    ax = fig.add_subplot()
    _bars(ax, list(range(len(arms))), [a.rate for a in arms], [a.ci for a in arms], 0.6, color=palette)
    ax.set_xticks(range(len(arms)), [f"{a.arm}\n({a.tasks} tasks" + (f", {a.n} runs)" if a.n != a.tasks else ")") for a in arms])
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 108)
    ax.set_title(TITLES["success_by_arm"], fontsize=9)
    made.append(_save(fig, out_dir / "success_by_arm.png"))
    differences = _differences(report, out_dir)
    if differences is not None:
        made.append(differences)

    fig = figure(figsize=(6.4, 3.8))
    ax = fig.add_subplot()
    for k, (arm, colour) in enumerate(zip(arms, palette, strict=True)):
        curve = report.curves.get(arm.arm, [])
        line, marker = _STYLES[k % len(_STYLES)]
        ax.plot(
            range(1, len(curve) + 1),
            [c * 100 for c in curve],
            label=arm.arm,
            color=colour,
            linestyle=line,
            marker=marker,
            markevery=max(1, len(curve) // 12),
            markersize=5 - k,  # a smaller marker on top leaves the one below visible
            linewidth=2.4 - 0.6 * k,
            alpha=0.9,
        )
    ax.set_xlabel("runs done (run order)")
    ax.set_ylabel("cumulative success rate (%)")
    ax.set_ylim(-3, 103)  # a curve at 0% or 100% stays visible off the frame
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(TITLES["learning_curve"], fontsize=9)
    ax.legend()
    made.append(_save(fig, out_dir / "learning_curve.png"))

    if len(report.sites) > 1:
        sites = list(report.sites)
        fig = figure(figsize=(max(6.4, 0.9 * len(sites) * max(1, len(arms)) / 2), 4.0))
        ax = fig.add_subplot()
        width = 0.8 / max(1, len(arms))
        for k, (arm, colour) in enumerate(zip(arms, palette, strict=True)):
            cells = [report.sites[s][arm.arm] for s in sites]
            xs = [i + k * width for i in range(len(sites))]
            _bars(
                ax,
                xs,
                [c.successes / c.n if c.n else 0.0 for c in cells],
                [c.ci for c in cells],
                width,
                label=arm.arm,
                color=colour,
            )
        ax.set_xticks([i + width * (len(arms) - 1) / 2 for i in range(len(sites))], sites, rotation=30, ha="right")
        ax.set_ylabel("success rate (%)")
        ax.set_ylim(0, 110)
        ax.set_title(TITLES["per_site"], fontsize=9)
        ax.legend()
        made.append(_save(fig, out_dir / "per_site.png"))
    return made


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
