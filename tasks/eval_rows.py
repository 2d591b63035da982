"""One eval job's result row: what the judge said, what the run cost per LLM role, which of the task's own earlier
episodes were kept from its coaching, the failure modes of the condensed run (for the report's error categories),
where the run ended (and whether off the task's site), and whether its site was down (an outage, not a failure)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from webcoach.condenser.condense import acondense
from webcoach.condenser.episode import Episode, domain_of
from webcoach.errors import WebcoachError
from webcoach.tasks.results import Intervention, RoleUsage, TaskResult

if TYPE_CHECKING:
    from webcoach.coach.advice import Advice
    from webcoach.hooks.runner import RunResult
    from webcoach.llm import UsageMeter
    from webcoach.tasks.judge import Verdict
    from webcoach.tasks.taskset import Task

log = logging.getLogger("webcoach")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


# `--date-shift` moves only the years in a question: a task is the same task whatever year it names, so an episode of
# it from a run with another shift is still its own (and must not coach it).
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
# What browser-use's initial navigation reports when the start page cannot be reached at all.
_UNREACHABLE = re.compile(r"navigation failed|site unavailable|net::ERR_", re.IGNORECASE)


def _norm(text: str | None) -> str:
    return _YEAR.sub("YYYY", " ".join((text or "").lower().split()))


def _place(url: str | None) -> str | None:
    """Where a task starts: the site for the web (www. ignored), the page and its query for a locally served site
    (its port changes between runs; a MiniWoB++ seed in the query makes another problem)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.hostname in _LOOPBACK:
        return f"local:{parts.path}?{parts.query}"
    return domain_of(url)


def same_task(task: Task, url: str) -> Callable[[Episode], bool]:
    """True for an episode of this very task: one stored with its task id (what the eval records), or, for an episode
    with none (stored before ids were kept, or by another tool), the same question (case, spacing and the years a date
    shift moves aside) on the same start page."""
    question, place = _norm(task.question), _place(url)

    def check(episode: Episode) -> bool:
        if episode.task_id is not None:
            return episode.task_id == task.id
        if _norm(episode.task) != question:
            return False
        there = _place(episode.start_url)
        return there is None or place is None or there == place

    return check


def site_of(url: str | None) -> str | None:
    """The site a URL is on: host:port for a locally served site, the registrable domain on the web; None for a page
    that is no site (about:blank, chrome-error://, a new tab)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "file"):
        return None
    if parts.scheme == "file":
        return "file:"
    if parts.hostname in _LOOPBACK:
        return parts.netloc
    return domain_of(url)


def final_url(history: Any) -> str | None:
    """The last page the run was on (the last step's URL that names a page)."""
    urls = [u for u in (history.urls() if history is not None else []) if u]
    return urls[-1] if urls else None


def ended_off_site(start_url: str, end_url: str | None) -> bool | None:
    """True when the run ended on another site than the task's; None when either end is unknown."""
    start, end = site_of(start_url), site_of(end_url)
    if start is None or end is None:
        return None
    return start != end


def start_never_loaded(history: Any) -> str | None:
    """Why the start page never loaded (the initial navigation failed to reach the site), else None."""
    items = getattr(history, "history", None) or []
    if not items:
        return None
    for result in getattr(items[0], "result", None) or []:
        error = getattr(result, "error", None)
        if error and _UNREACHABLE.search(str(error)):
            return f"the start page never loaded: {str(error).splitlines()[0][:200]}"
    return None


def outage_row(common: dict[str, Any], why: str, usage: dict[str, RoleUsage], run: RunResult | None = None) -> TaskResult:
    """A run whose site was down: not judged, not stored, out of every rate; --resume runs its task again."""
    end = final_url(run.history) if run is not None else None
    return TaskResult(
        **common,
        success=False,
        verdict=None,
        judge_reason="not judged: the site was down",
        outage=why,
        final_url=end,
        steps=run.history.number_of_steps() if run is not None else 0,
        seconds=run.seconds if run is not None else 0.0,
        usage=usage,
    )


def usage_of(meter: UsageMeter, history: Any, with_cost: bool) -> dict[str, RoleUsage]:
    """LLM use per role: the agent's from browser-use's own count, webcoach's (coach, condenser, judge) from the meter."""
    out = {
        role: RoleUsage(calls=u.calls, prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens)
        for role, u in meter.by_role.items()
    }
    usage = getattr(history, "usage", None)
    if usage is not None and int(getattr(usage, "entry_count", 0) or 0):
        out["agent"] = RoleUsage(
            calls=usage.entry_count,
            prompt_tokens=usage.total_prompt_tokens,
            completion_tokens=usage.total_completion_tokens,
            cost=usage.total_cost if with_cost else None,
        )
    return out


def error_row(common: dict[str, Any], exc: Exception, usage: dict[str, RoleUsage]) -> TaskResult:
    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    return TaskResult(**common, success=False, verdict=None, judge_reason="not judged: the run failed", error=reason, usage=usage)


async def finished_row(
    common: dict[str, Any],
    run: RunResult,
    verdict: Verdict,
    judge_seconds: float,
    usage: dict[str, RoleUsage],
    out: Path,
    *,
    time_limited: bool = False,
) -> TaskResult:
    history = run.history
    agent = usage.get("agent")
    end = final_url(history)
    return TaskResult(
        **common,
        final_url=end,
        off_site=ended_off_site(common["start_url"], end),
        time_limited=time_limited,
        success=verdict.success is True,
        verdict=verdict.success,
        judge_reason=verdict.reason,
        judge_raw=verdict.raw,
        judge_seconds=judge_seconds,
        reward=verdict.reward,
        claimed_success=history.is_successful(),
        final_answer=history.final_result(),
        steps=history.number_of_steps(),
        seconds=run.seconds,
        prompt_tokens=agent.prompt_tokens if agent else None,
        completion_tokens=agent.completion_tokens if agent else None,
        total_tokens=agent.prompt_tokens + agent.completion_tokens if agent else None,
        cost=agent.cost if agent else None,
        interventions=[_intervention(a) for a in run.advice],
        episode_id=run.episode.id if run.episode is not None else None,
        excluded_episodes=run.excluded,
        failure_kinds=await _failure_kinds(run),
        usage=usage,
        history=_relative(run.history_path, out),
        screenshots=[p for p in (_relative(s, out) for s in run.screenshots) if p],
    )


async def _failure_kinds(run: RunResult) -> list[str]:
    """The failure modes of the run as the rule condenser sees them (the coach arm's stored episode, else condensed
    here without an LLM: every arm gets the same categories)."""
    episode = run.episode
    if episode is None:
        try:
            episode = await acondense(run.history, run.task)
        except WebcoachError as exc:
            log.warning("webcoach eval: could not condense the run of %r: %s", run.task[:60], exc)
            return []
    return sorted({f.kind for f in episode.failure_modes})


def _intervention(advice: Advice) -> Intervention:
    return Intervention(
        text=advice.render(),  # what the agent read, quoted observations included
        episode_ids=list(advice.episode_ids),
        trigger=advice.trigger,
        step=advice.step,
        confidence=advice.confidence,
    )


def _relative(path: Path | None, root: Path) -> str | None:
    if path is None:
        return None
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
