"""Site scope as a boundary, and the one guard every way out of memory goes through.

The store ranks by similarity and site (memory/ranking.py); this module decides what of each retrieved episode a
reader may see, before any decider, MCP client, CLI listing or `--json` output looks at it:
- a banned episode is never shown (only `memory show ID` and export show it, marked);
- an episode of the reader's own site is shown whole (its pages, routes, errors and answers are about this site);
- an episode of another site (or any episode when the site is unknown) is reduced to its site-independent lessons,
  and only when a person approved it (`memory pin`): a person or judge vouching for an outcome vouches for the
  outcome, not for text a page or an LLM wrote. Anything else from another site is dropped;
- every text field that is shown is cleaned, has other sites' hosts masked and instruction-like or credential-asking
  text withheld (`guard_episode`); an answer is shown only for the same task.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from webcoach.condenser.episode import Episode, FailureMode
from webcoach.condenser.guard import WITHHELD, clean, instruction_problem, mask_hosts, site_independent, text_problem
from webcoach.condenser.site import as_site, site_of
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
    return as_site(bare.group(1)) if bare else None


def same_task(a: str, b: str) -> bool:
    """Whether two task texts ask the same thing (case and spacing aside): only then is one's answer the other's."""
    return " ".join(clean(a).casefold().split()) == " ".join(clean(b).casefold().split())


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
        general = [lesson for lesson in ep.lessons if site_independent(lesson) and text_problem(lesson, site) is None]
        if not general:
            continue
        kept.append(replace(hit, episode=general_only(ep, general), same_site=False))
    return tuple(kept)


def general_only(ep: Episode, lessons: list[str]) -> Episode:
    """`ep` with nothing of its site left: no URL, summary, steps, failures, routes or answer; only `lessons`."""
    return ep.model_copy(
        update={
            "start_url": None,
            "summary": "",
            "key_steps": [],
            "failure_modes": [],
            "what_worked": [],
            "lessons": lessons,
            "final_answer": None,
            "outcome_reason": None,
            "run_notes": [],
            "related": [],
        }
    )


def safe_text(text: str | None, site: str | None, *, credentials: bool = True) -> str:
    """A recorded string as any reader may see it: cleaned, other sites' hosts masked, withheld when it reads like an
    instruction to the agent or (with `credentials`) a request for credentials. A task is the user's own words ("log in
    and change my password"): only an instruction withholds it."""
    cleaned = clean(text)
    if not cleaned:
        return ""
    problem = text_problem(cleaned, site, hosts=False) if credentials else instruction_problem(cleaned)
    if problem is not None:
        return WITHHELD
    return mask_hosts(cleaned, site)


def guard_episode(ep: Episode, site: str | None, task: str | None = None) -> Episode:
    """`ep` (already scoped by `scope_hits`) with every text field through `safe_text`; its answer only when `task` is
    its own task (another task's answer is a wrong answer)."""
    answer = ep.final_answer if task is not None and same_task(task, ep.task) else None
    url = ep.start_url if ep.start_url and text_problem(ep.start_url, site, hosts=False) is None else None
    return ep.model_copy(
        update={
            "task": safe_text(ep.task, site, credentials=False),
            "start_url": url,
            "summary": safe_text(ep.summary, site),
            "outcome_reason": safe_text(ep.outcome_reason, site) or None,
            "key_steps": [safe_text(s, site) for s in ep.key_steps],
            "what_worked": [safe_text(s, site) for s in ep.what_worked],
            "lessons": [safe_text(s, site) for s in ep.lessons],
            "failure_modes": [
                FailureMode(kind=f.kind, detail=safe_text(problem_fact(f), site), step=f.step, url=f.url, count=f.count)
                for f in ep.failure_modes
            ],
            "final_answer": safe_text(answer, site) or None,
            # The run's record (agent errors, network, third-party text) is for a person (`memory show`), never a reader.
            "run_notes": [],
        }
    )


def guarded(ep: Episode, site: str | None, *, answers_for: str | None = None) -> Episode | None:
    """One episode as a reader on `site` (None: no site, e.g. a listing) may see it: None when banned; whole (guarded)
    on its own site; elsewhere its record (task, site, outcome, trust) with only the general lessons a person approved."""
    if ep.banned:
        return None
    if site is not None and ep.domain == site:
        return guard_episode(ep, site, answers_for)
    general = [x for x in ep.lessons if site_independent(x) and text_problem(x, site) is None] if ep.trusted else []
    return guard_episode(general_only(ep, general), site, answers_for)


def visible(hits: Iterable[Hit], url: str | None, task: str = "", *, answers_for: str | None = None) -> tuple[Hit, ...]:
    """What any reader outside the coach (MCP tools and resources, CLI listings, `--json`) may see of `hits`: the site
    scope of `scope_hits`, then `guard_episode` on what is left. `answers_for`: the task whose answers may be shown."""
    site = run_site(url, task)
    return tuple(replace(h, episode=guard_episode(h.episode, site, answers_for)) for h in scope_hits(hits, url, task))


# What a failure says, rebuilt from facts the coach writes itself (path, status, error class, step): a page's
# sentences (console messages, DOM text quoted in an error) never ride along.
_ERROR_CLASS = re.compile(
    r"\b([A-Z]\w*(?:Error|Exception)|timeout \d+ ?ms exceeded|timed out|strict mode violation|net::ERR_[A-Z_]+|"
    r"not visible|not attached|not enabled|not editable|not found|no such element|detached|intercepts pointer events|"
    r"outside of the viewport|resolved to \d+ elements|HTTP \d{3})",
    re.I,
)


def problem_fact(mode: FailureMode) -> str:
    """A failure as facts: what failed, its error class and where; never the error's or the page's own words."""
    step = f" at step {mode.step}" if mode.step is not None else ""
    if mode.kind == "console_error":
        return f"a page script error{step}"
    if mode.kind in ("error", "timeout"):
        action, _, error = mode.detail.partition(" failed: ")
        found = _ERROR_CLASS.search(error)
        cls = found.group(1) if found else ("a timeout" if mode.kind == "timeout" else "an error")
        return f"{clean(action)[:80]} failed ({cls}){step}"
    if mode.kind == "gave_up":
        return f"the agent gave up{step}"
    return clean(mode.detail)  # http_error, loop, dead_end, step_limit: written by the rules from paths and counts


def on_site(url: str | None, site: str | None) -> bool:
    """Whether a page URL is on `site` (False when either is unknown)."""
    found = site_of(url)
    return found is not None and site is not None and found == site
