"""`condense(source, task=...)`: any supported log -> a redacted Episode (rule-based, or LLM-written with fallback)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from webcoach.condenser.episode import Episode, Outcome, OutcomeBy, vouch
from webcoach.condenser.guard import clean_episode
from webcoach.condenser.llm_condenser import condense_llm
from webcoach.condenser.redact import Redactor
from webcoach.condenser.rules import clip, condense_rules_all
from webcoach.condenser.sources import load_trajectory, sensitive_values
from webcoach.condenser.trajectory import Trajectory
from webcoach.errors import InputError
from webcoach.providers import resolve_model

log = logging.getLogger("webcoach")
_T = TypeVar("_T")


def _task_for(traj: Trajectory, task: str | None, redactor: Redactor) -> str:
    chosen = (task or traj.task or "").strip()
    if not chosen:
        raise InputError(f"{traj.source or 'this log'} does not say what the run was for: pass task='...' (CLI: --task)")
    given = redactor.text(task) if task else None  # compared and logged redacted, as the log's own task is
    if given and traj.task and " ".join(given.split()) != " ".join(traj.task.split()):
        # Said, not silent: the log's own task is lost from the episode (and from what later searches match).
        log.warning(
            "webcoach: %s says its task was %r; stored with the task given instead (%r)",
            traj.source or "the log",
            clip(traj.task, 80),
            clip(given, 80),
        )
    return Redactor().text(chosen) or chosen


async def acondense(
    source: object,
    task: str | None = None,
    *,
    llm: object | None = None,
    outcome: Outcome | str | None = None,
    outcome_by: OutcomeBy | None = None,
    secrets: Iterable[str] = (),
    sensitive_data: Mapping[str, Any] | None = None,
    vouched_by: str | None = None,
) -> Episode:
    """Async form of `condense`, for use inside a running event loop (e.g. a browser-use hook)."""
    episodes = await acondense_all(
        source,
        task,
        llm=llm,
        outcome=outcome,
        outcome_by=outcome_by,
        secrets=secrets,
        sensitive_data=sensitive_data,
        vouched_by=vouched_by,
    )
    return episodes[0]


async def acondense_all(
    source: object,
    task: str | None = None,
    *,
    llm: object | None = None,
    outcome: Outcome | str | None = None,
    outcome_by: OutcomeBy | None = None,
    secrets: Iterable[str] = (),
    sensitive_data: Mapping[str, Any] | None = None,
    vouched_by: str | None = None,
) -> list[Episode]:
    """Every episode of a run: one per site it worked on, the main site's first (see condenser/attribution.py).
    The LLM condenser, when asked for, rewrites the main site's episode; the other sites' stay rule-based."""
    traj, drafts = _rule_drafts(source, task, outcome, outcome_by, tuple(secrets), sensitive_data)
    if llm is not None:
        drafts = [await condense_llm(traj, drafts[0], resolve_model(llm)), *drafts[1:]]
    return _finished(drafts, vouched_by)


def _rule_drafts(
    source: object,
    task: str | None,
    outcome: Outcome | str | None,
    outcome_by: OutcomeBy | None,
    secrets: tuple[str, ...],
    sensitive_data: Mapping[str, Any] | None,
) -> tuple[Trajectory, list[Episode]]:
    traj = source if isinstance(source, Trajectory) else load_trajectory(source, secrets=secrets, sensitive_data=sensitive_data)
    redactor = Redactor(secrets)
    for value in sensitive_values(sensitive_data):
        redactor.add_secret(value)
    return traj, condense_rules_all(traj, _task_for(traj, task, redactor), outcome=outcome, outcome_by=outcome_by)


def _finished(drafts: list[Episode], vouched_by: str | None) -> list[Episode]:
    # Trust is the caller's to grant (it knows who gave the verdict); nothing in the log can set it.
    return [vouch(clean_episode(episode), vouched_by) for episode in drafts]


def condense_all(
    source: object,
    task: str | None = None,
    *,
    llm: object | None = None,
    outcome: Outcome | str | None = None,
    outcome_by: OutcomeBy | None = None,
    secrets: Iterable[str] = (),
    sensitive_data: Mapping[str, Any] | None = None,
    vouched_by: str | None = None,
) -> list[Episode]:
    """Like `condense`, but every site's episode of a run that worked on several sites (the main site's first)."""
    if llm is None:  # nothing to wait for: no event loop (building one per file was ~15% of a batch ingest)
        _no_running_loop("condense_all")
        drafts = _rule_drafts(source, task, outcome, outcome_by, tuple(secrets), sensitive_data)[1]
        return _finished(drafts, vouched_by)
    coro = acondense_all(
        source,
        task,
        llm=llm,
        outcome=outcome,
        outcome_by=outcome_by,
        secrets=secrets,
        sensitive_data=sensitive_data,
        vouched_by=vouched_by,
    )
    return _run(coro, "condense_all")


def condense(
    source: object,
    task: str | None = None,
    *,
    llm: object | None = None,
    outcome: Outcome | str | None = None,
    outcome_by: OutcomeBy | None = None,
    secrets: Iterable[str] = (),
    sensitive_data: Mapping[str, Any] | None = None,
    vouched_by: str | None = None,
) -> Episode:
    """Condense a Playwright trace.zip, a HAR, a browser-use history JSON (path or dict) or a live AgentHistoryList.

    `task` is required when the log does not carry it. `llm` ('anthropic:MODEL', a langchain-core chat model, a
    webcoach ChatModel or a function) turns on the LLM condenser; on any LLM failure the rule-based episode is returned and
    `episode.condenser` says why. `outcome` is a human verdict and overrides what the log says. `secrets` and
    `sensitive_data` are masked everywhere, on top of what redaction finds by itself. `vouched_by` says who vouches for
    the outcome ("human:<how>", "judge:<model id>"; see `Episode.trust`): only the code that got the verdict sets it.
    """
    if llm is None:
        _no_running_loop("condense")
        drafts = _rule_drafts(source, task, outcome, outcome_by, tuple(secrets), sensitive_data)[1]
        return _finished(drafts[:1], vouched_by)[0]
    coro = acondense(
        source,
        task,
        llm=llm,
        outcome=outcome,
        outcome_by=outcome_by,
        secrets=secrets,
        sensitive_data=sensitive_data,
        vouched_by=vouched_by,
    )
    return _run(coro, "condense")


def _no_running_loop(name: str) -> None:
    # The same rule with or without an LLM, so that code which works does not break when an LLM is added.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # no loop running: the usual case
    raise RuntimeError(f"{name}() was called inside a running event loop: use `await a{name}(...)` there")


def _run(coro: Coroutine[Any, Any, _T], name: str) -> _T:
    try:
        _no_running_loop(name)
    except RuntimeError:
        coro.close()
        raise
    # Not asyncio.run: it turns Ctrl-C into a cancellation that the (synchronous) parsing never sees, so an ingest
    # could not be interrupted while it reads a file. A plain loop lets KeyboardInterrupt through at once.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
