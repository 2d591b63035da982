"""One eval job's result row: what the judge said, what the run cost per LLM role, which of the task's own earlier
episodes were kept from its coaching, and the failure modes of the condensed run (for the report's error categories)."""

from __future__ import annotations

import logging
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


def _norm(text: str | None) -> str:
    return " ".join((text or "").lower().split())


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
    """True for an episode of this very task: the same question (case and spacing aside) on the same start page."""
    question, place = _norm(task.question), _place(url)

    def check(episode: Episode) -> bool:
        if _norm(episode.task) != question:
            return False
        there = _place(episode.start_url)
        return there is None or place is None or there == place

    return check


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
    common: dict[str, Any], run: RunResult, verdict: Verdict, judge_seconds: float, usage: dict[str, RoleUsage], out: Path
) -> TaskResult:
    history = run.history
    agent = usage.get("agent")
    return TaskResult(
        **common,
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
