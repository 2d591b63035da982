"""What the UI's pages show, computed from the store through the same library calls the CLI uses: per-site summaries
(episodes, success rate over time, last seen, bot walls and dead ends) and an episode's provenance.

Numbers only go into the charts' SVG; every string from memory goes to the templates, which escape it."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from webcoach.condenser.episode import Episode

WEEKS = 12  # the chart's span
TOP = 3  # bot walls / dead ends shown per site
# A page that keeps agents out rather than a broken one (see field notes: Cloudflare, Google's /sorry).
BOT_WALL = re.compile(
    r"captcha|just a moment|are you a robot|unusual traffic|access denied|/sorry/|cf-mitigated|challenge|\b403\b", re.I
)


@dataclass
class SiteSummary:
    site: str
    episodes: int = 0
    successes: int = 0
    failures: int = 0
    banned: int = 0
    last_seen: datetime | None = None
    weekly: list[tuple[int, int]] = field(default_factory=lambda: [(0, 0)] * WEEKS)  # (successes, runs) per week, oldest first
    bot_walls: dict[str, int] = field(default_factory=dict)
    dead_ends: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        judged = self.successes + self.failures
        return self.successes / judged if judged else None

    @property
    def chart(self) -> str:
        """SVG polyline points of the weekly success rate (weeks without runs are skipped)."""
        points = []
        for n, (wins, runs) in enumerate(self.weekly):
            if runs:
                points.append(f"{n * 10},{round(30 - 28 * wins / runs, 1)}")
        return " ".join(points)

    def top(self, what: dict[str, int]) -> list[tuple[str, int]]:
        return sorted(what.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]


def site_summaries(episodes: Iterable[Episode], now: datetime | None = None) -> list[SiteSummary]:
    """One summary per site, the most episodes first."""
    when = now or datetime.now(UTC)
    sites: dict[str, SiteSummary] = {}
    weekly: dict[str, list[list[int]]] = defaultdict(lambda: [[0, 0] for _ in range(WEEKS)])
    for ep in episodes:
        name = ep.domain or "(no site)"
        s = sites.setdefault(name, SiteSummary(site=name))
        s.episodes += 1
        s.banned += ep.banned
        s.successes += ep.outcome.value == "success"
        s.failures += ep.outcome.value == "failure"
        created = aware(ep.created_at)
        s.last_seen = max(s.last_seen, created) if s.last_seen else created
        age_weeks = (when - created) // timedelta(weeks=1)
        if 0 <= age_weeks < WEEKS and ep.outcome.value != "unknown":
            bucket = weekly[name][WEEKS - 1 - age_weeks]
            bucket[0] += ep.outcome.value == "success"
            bucket[1] += 1
        for f in ep.failure_modes:
            where = f.url or f.detail
            if f.kind == "dead_end":
                s.dead_ends[where] = s.dead_ends.get(where, 0) + 1
            elif BOT_WALL.search(f.detail) or (f.url and BOT_WALL.search(f.url)):
                s.bot_walls[where] = s.bot_walls.get(where, 0) + 1
    for name, s in sites.items():
        s.weekly = [(w, r) for w, r in weekly[name]]
    return sorted(sites.values(), key=lambda s: (-s.episodes, s.site))


def lesson_author(ep: Episode) -> str:
    """Who wrote an episode's lessons, in words."""
    if ep.revision_of:
        return f"a person (revision of {ep.revision_of})"
    if ep.condenser.startswith("llm"):
        return f"an LLM condenser ({ep.condenser})"
    if ep.imported_from:
        return f"imported from {ep.imported_from} (condenser: {ep.condenser})"
    return f"the rule-based condenser ({ep.condenser})"


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
