"""Which sites a run worked on: where the agent acted and where the answer came from.

The site a run starts on is often not the site it is about: agents search first (Google, DuckDuckGo), meet consent and
CAPTCHA interstitials, and pages load ad frames. Those never make a site (condenser/incidents.py says which pages are
hops). A run that worked on two sites has a part for each, so that each site's advice comes from its own part only.
"""

from __future__ import annotations

from dataclasses import dataclass

from webcoach.condenser.incidents import is_hop
from webcoach.condenser.site import site_of
from webcoach.condenser.trajectory import Step, Trajectory

_ACTING = frozenset({"click", "fill", "press", "select", "check", "hover", "extract", "upload", "done", "scroll", "other"})


def page_of(step: Step) -> str | None:
    """The page a step is about: the page a navigation loaded, else the page the step acted on."""
    if step.action == "goto" and step.target and step.target.startswith(("http://", "https://")):
        return step.target
    return step.url


def pages(traj: Trajectory) -> list[str]:
    """Distinct http(s) pages in visiting order (consecutive repeats collapsed)."""
    seen: list[str] = []
    for step in traj.steps:
        url = page_of(step)
        if url and url.startswith(("http://", "https://")) and (not seen or seen[-1] != url):
            seen.append(url)
    return seen


@dataclass(frozen=True, kw_only=True)
class SitePart:
    site: str
    steps: tuple[Step, ...]  # the steps on this site's pages
    start_url: str  # the first page of this site the run was on


def work_sites(traj: Trajectory, task: str = "") -> list[SitePart]:
    """The run's sites, the main one first: the site the answer was read on, else the one with the most actions, else
    (a HAR: page loads only) the one with the most page loads. Hop pages count for no site. Another site becomes a part
    of its own only where the agent acted on it (a page that merely passed by, a redirect, a link out, does not)."""
    acted: dict[str, int] = {}
    loaded: dict[str, int] = {}
    first_page: dict[str, str] = {}
    steps_by_site: dict[str, list[Step]] = {}
    answer: str | None = None
    start = traj.start_url if traj.start_url and not is_hop(traj.start_url, task) else None
    last_site: str | None = site_of(start)
    for step in traj.steps:
        page = page_of(step)
        site = None if page is None or is_hop(page, task) else site_of(page)
        if site is None:
            if page is None and last_site is not None:
                site = last_site  # a step that names no page (a reported step, a final done): the page it followed
                page = start if last_site == site_of(start) and last_site not in first_page else None
            else:
                continue
        first_page.setdefault(site, page or "")
        steps_by_site.setdefault(site, []).append(step)
        last_site = site
        if step.action == "goto":
            loaded[site] = loaded.get(site, 0) + 1
        elif step.action in _ACTING:
            acted[site] = acted.get(site, 0) + 1
        if step.action in ("done", "extract"):
            answer = site
    if not steps_by_site:
        return []
    order = list(steps_by_site)
    if answer is not None:
        main = answer
    elif acted:
        main = max(order, key=lambda s: (acted.get(s, 0), -order.index(s)))
    else:
        main = max(order, key=lambda s: (loaded.get(s, 0), -order.index(s)))
    others = [s for s in order if s != main and (acted.get(s, 0) > 0 or (not acted and traj.source_kind == "har"))]
    return [
        SitePart(site=s, steps=tuple(steps_by_site[s]), start_url=first_page[s] or (traj.start_url or ""))
        for s in [main, *others]
    ]
