"""Site scope as a boundary: what of each retrieved episode a run may see.

The store ranks by similarity and site (memory/ranking.py); this module decides what crosses sites, before any decider
looks at a hit:
- a banned episode is never shown;
- an episode of the run's own site is shown whole (its pages, routes, errors and answers are about this site);
- an episode of another site (or any episode when the run's site is unknown) is reduced to its site-independent
  lessons, and only when a person or a judge vouched for its outcome: routes, URLs, element text, error text and
  answers of one site never reach a run on another. An untrusted foreign episode is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from webcoach.condenser.guard import lesson_problem, site_independent
from webcoach.condenser.site import host_of, site_of, site_of_host
from webcoach.memory.ranking import Hit

# A URL, or a bare host name, in a task ("... on https://www.amazon.com", "... on allrecipes.com").
_TASK_URL = re.compile(r"https?://[^\s\"'<>]+", re.I)
_TASK_HOST = re.compile(r"\b((?:[a-z0-9-]+\.)+(?:com|org|net|edu|gov|io|co\.uk|de|fr|test))\b", re.I)


def run_site(url: str | None, task: str = "") -> str | None:
    """The site a run is on: its page's, else a site the task names (an agent that starts on about:blank)."""
    site = site_of(url)
    if site is not None:
        return site
    found = _TASK_URL.search(task)
    if found:
        return site_of(found.group(0))
    bare = _TASK_HOST.search(task)
    return site_of_host(bare.group(1)) if bare else None


def scope_hits(hits: Iterable[Hit], url: str | None, task: str = "") -> tuple[Hit, ...]:
    """The hits a run on `url` may be told about, each reduced to what may cross to that site."""
    site = run_site(url, task)
    kept: list[Hit] = []
    for hit in hits:
        ep = hit.episode
        if ep.banned:
            continue
        if site is not None and ep.domain == site:
            kept.append(replace(hit, same_site=True))
            continue
        if not ep.trusted:
            continue
        general = [lesson for lesson in ep.lessons if site_independent(lesson) and lesson_problem(lesson, site) is None]
        if not general:
            continue
        bare = ep.model_copy(
            update={
                "start_url": None,
                "summary": "",
                "key_steps": [],
                "failure_modes": [],
                "what_worked": [],
                "lessons": general,
                "final_answer": None,
                "outcome_reason": None,
            }
        )
        kept.append(replace(hit, episode=bare, same_site=False))
    return tuple(kept)


def on_site(url: str | None, site: str | None) -> bool:
    """Whether a page URL is on `site` (False when either is unknown)."""
    host = host_of(url)
    return host is not None and site is not None and site_of_host(host) == site
