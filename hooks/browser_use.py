"""The one module that reaches into browser-use internals: coaching a running `browser_use.Agent`.

Advice reaches the agent's NEXT LLM call as a one-shot `ActionResult(include_extracted_content_only_once=True)` in
`agent.state.last_result` (measured: it shows once in the next prompt's read-state block and does not alter the agent's
history; the private context-message route is cleared every step and does not work). Retrieval runs concurrently with the
agent's own LLM call; every wait on the coach has a timeout, and any failure leaves the step unadvised (fail open).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from browser_use.agent.views import ActionResult
from webcoach.coach.scope import run_site
from webcoach.condenser.browser_use_history import parse_history
from webcoach.condenser.condense import acondense_all
from webcoach.condenser.episode import Episode, OutcomeBy
from webcoach.condenser.redact import Redactor
from webcoach.condenser.sources import sensitive_values
from webcoach.hooks.base import RunHooks
from webcoach.hooks.keep import keep_run, log_advice
from webcoach.llm import usage_role
from webcoach.memory.advice_log import new_run_id

if TYPE_CHECKING:
    from webcoach.coach.advice import Advice
    from webcoach.coach.coach import Coach
    from webcoach.memory.ranking import Hit

log = logging.getLogger("webcoach")
_OVERFETCH = 8  # extra hits fetched when some may be excluded, so the coach still sees k


@dataclass(frozen=True, kw_only=True)
class Label:
    """How a finished run went and who said so; it labels the stored episode instead of the agent's own claim."""

    success: bool | None  # None: nobody could say (the episode's outcome is then unknown)
    by: OutcomeBy = "judge"
    reason: str | None = None
    # Who vouches for the verdict ("judge:<model id>" for a judge webcoach ran); None: nobody, the episode is not
    # trusted above the agent's own claim (see Episode.trust).
    vouched_by: str | None = None


def tempered_anthropic(model: str, temperature: float, **kwargs: Any) -> Any:
    """browser-use's ChatAnthropic decoding at `temperature`, sent in the request body: the anthropic SDK's create()
    no longer takes it as an argument (1.17), so browser-use's own `temperature` field would fail every step. The
    Messages API has no seed."""
    from browser_use import ChatAnthropic

    class _Tempered(ChatAnthropic):
        def _get_extra_body_for_invoke(self) -> dict[str, Any] | None:
            return {**(super()._get_extra_body_for_invoke() or {}), "temperature": temperature}

    return _Tempered(model=model, **kwargs)


def telemetry_off(agent: Any) -> None:
    """browser-use's anonymous telemetry off for this agent (and later ones), unless the user set ANONYMIZED_TELEMETRY:
    the Agent decides at construction, so a caller of the Python API who built it has it on by default."""
    if "ANONYMIZED_TELEMETRY" in os.environ:
        return
    os.environ["ANONYMIZED_TELEMETRY"] = "false"
    telemetry = getattr(agent, "telemetry", None)
    if telemetry is not None and getattr(telemetry, "_posthog_client", None) is not None:
        telemetry._posthog_client = None  # its capture() and flush() do nothing without a client


async def run_coached(
    agent: Any, coach: Coach, max_steps: int = 30, *, on_advice: Callable[[Advice], None] | None = None, **run_kwargs: Any
) -> Any:
    """Run a browser-use Agent with coaching; the run is condensed and stored when it ends. Returns its history.
    `on_advice` is called with each intervention as it is made (e.g. to show it)."""
    session = CoachingSession(coach, agent, on_advice=on_advice)
    session.warm_up()  # retrieval overlaps the browser's start
    history = await agent.run(
        max_steps=max_steps, on_step_start=session.before_step, on_step_end=session.after_step, **run_kwargs
    )
    await session.on_done(history)
    return history


class CoachingSession(RunHooks):
    """Coaching state for one agent run: the advice given so far and the retrieval under way.

    For callers who run the agent themselves:
        session = CoachingSession(coach, agent)
        history = await agent.run(max_steps=30, on_step_start=session.before_step, on_step_end=session.after_step)
        await session.on_done(history)   # condense + store the run, update usefulness
    """

    def __init__(
        self,
        coach: Coach,
        agent: Any,
        *,
        on_advice: Callable[[Advice], None] | None = None,
        exclude: Callable[[Episode], bool] | None = None,
        task_id: str | None = None,
    ) -> None:
        """`exclude(episode)` True keeps that episode from this run's coaching (an eval keeps a task's own earlier
        runs out, so memory cannot hand the agent its answer); the ids kept out are in `excluded`. `task_id` names the
        benchmark task the run is for: its episodes carry it, so later runs of that task know them whatever a date
        shift did to the question."""
        self.task_id = task_id
        telemetry_off(agent)
        self.coach = coach
        self.agent = agent
        self.task: str = str(getattr(agent, "task", "") or "")
        self.given: list[Advice] = []
        self.on_advice = on_advice
        self.episode: Episode | None = None
        self.exclude = exclude
        self.excluded: set[str] = set()
        self._sensitive = getattr(agent, "sensitive_data", None)
        self._secrets = sensitive_values(self._sensitive)
        self._hits: asyncio.Task[list[Hit]] | None = None
        self._hits_url: str | None = None
        self._started = False
        self._start_pending = True  # no start advice yet: given once the run's site is known
        self.run_id = new_run_id()  # names this run in the advice log

    # --- the moments ------------------------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Start retrieving for the page the run will open, so the start advice is ready when the first step begins
        instead of costing it a whole search (call inside the event loop, just before `agent.run`)."""
        try:
            self._prefetch(self._start_url())
        except Exception as exc:  # fail open
            self._skip("warming up", exc)

    async def before_step(self, agent: Any) -> None:
        try:
            url = await self._current_url(agent)
            self._prefetch(url)
            if not self._started:
                self._started = True
                # Start advice is about the run's site: when the agent starts on a blank page and the task names no
                # site, it waits for the first page (after_step) instead of guessing from other sites' runs.
                if run_site(url, self.task) is not None:
                    self._start_pending = False
                    advice = await asyncio.wait_for(self._decide(url, None), self.coach.config.timeout_s)
                    if advice is not None:
                        await self._give(agent, advice)
        except Exception as exc:  # fail open: the coach must never end or stall the run
            self._skip("before step", exc)

    async def after_step(self, agent: Any) -> None:
        if self._finished(agent):
            # browser-use calls this hook after its `done` step too: advice then reaches no model, yet would be shown
            # as given and credited (or blamed) with the run's outcome.
            return
        try:
            url = await self._current_url(agent)
            if self._start_pending and run_site(url, self.task) is not None:
                self._start_pending = False
                self._prefetch(url)
                advice = await asyncio.wait_for(self._decide(url, None), self.coach.config.timeout_s)
                if advice is not None:
                    await self._give(agent, advice)
                    return
            trajectory = parse_history(agent.history, Redactor(self._secrets))
            advice = await asyncio.wait_for(self._decide(url, trajectory), self.coach.config.timeout_s)
            if advice is not None:
                await self._give(agent, advice)
            self._prefetch(url)
        except Exception as exc:  # fail open
            self._skip("after step", exc)

    def stop_retrieval(self) -> None:
        """Cancel a retrieval still under way (the run has ended)."""
        if self._hits is not None and not self._hits.done():
            self._hits.cancel()

    async def on_done(
        self, history: Any, *, label: Label | None = None, llm: object | None = None, save_to: Path | None = None
    ) -> Episode | None:
        """Condense and store the run, labelled with `label` when given (else the log's own outcome); credit or blame
        the episodes whose advice it was given. `llm` condenses with an LLM; `save_to` keeps a JSON copy of the episode,
        written before it is stored (a run killed in between can be stored again from it)."""
        self.stop_retrieval()
        config = self.coach.config
        if not config.store_runs and not (config.update_usefulness and self.given):
            return None
        try:
            # Condensed even when runs are not stored: the run's outcome is what credits or blames the cited episodes.
            # A label with no verdict makes the outcome unknown: nobody's guess, not the agent's own claim, counts.
            outcome = None if label is None else {True: "success", False: "failure", None: "unknown"}[label.success]
            with usage_role("condenser"):
                episode, *parts = await acondense_all(
                    history,
                    task=self.task,
                    llm=llm,
                    sensitive_data=self._sensitive,
                    outcome=outcome,
                    outcome_by=label.by if label is not None else None,
                    vouched_by=label.vouched_by if label is not None else None,
                )
            if label is not None and label.reason:
                episode = episode.model_copy(update={"outcome_reason": label.reason[:300]})
            if self.task_id is not None:
                episode = episode.model_copy(update={"task_id": self.task_id})
                parts = [p.model_copy(update={"task_id": self.task_id}) for p in parts]
            await keep_run(
                self.coach.store,
                episode,
                parts=parts,
                cited=[i for a in self.given for i in a.episode_ids],
                store_run=config.store_runs,
                credit=config.update_usefulness,
                save_to=save_to,
                run=self.run_id if self.given else None,
            )
            if not config.store_runs:
                return None
            self.episode = episode
            return episode
        except Exception as exc:  # a run that cannot be stored must not turn a finished run into a crash
            self._skip("storing the run", exc)
            return None

    # --- internals --------------------------------------------------------------------------------------------------

    def _prefetch(self, url: str | None) -> None:
        """Start retrieval for the current page now, so it overlaps the agent's own LLM call."""
        if self._hits is None or (url != self._hits_url and self._hits.done()):
            self._hits_url = url
            self._hits = asyncio.create_task(self._retrieve(url))

    async def _retrieve(self, url: str | None) -> list[Hit]:
        if self.exclude is None:
            return await self.coach.retrieve(self.task, url)
        config = self.coach.config
        found = await asyncio.to_thread(self.coach.store.search, self.task, url, config.k + _OVERFETCH, weights=config.weights)
        kept = []
        for hit in found:
            if self.exclude(hit.episode):
                self.excluded.add(hit.episode.id)
            else:
                kept.append(hit)
        return kept[: config.k]

    async def _decide(self, url: str | None, trajectory: Any) -> Advice | None:
        hits: list[Hit] = []
        if self._hits is not None:
            hits = await asyncio.shield(self._hits)
        step = len(self.agent.history.history) if trajectory is not None else None
        with usage_role("coach"):
            return await self.coach.advise(self.task, url, trajectory, step=step, given=self.given, hits=hits)

    async def _give(self, agent: Any, advice: Advice) -> None:
        self._inject(agent, advice)
        config = self.coach.config
        if config.store_runs or config.update_usefulness:  # a memory that is never written (an eval's frozen arm): no log
            await log_advice(self.coach.store, advice, run=self.run_id, channel="browser-use", task=self.task)

    def _inject(self, agent: Any, advice: Advice) -> None:
        note = ActionResult(extracted_content=advice.render(), include_extracted_content_only_once=True)
        if agent.state.last_result:
            agent.state.last_result.append(note)
        else:
            agent.state.last_result = [note]
        self.given.append(advice)
        if self.on_advice is not None:
            with contextlib.suppress(Exception):  # a display callback must not break coaching
                self.on_advice(advice)

    def _start_url(self) -> str | None:
        """The page browser-use opens before the first step: its first initial navigation (given, or found in the task)."""
        for action in getattr(self.agent, "initial_actions", None) or []:
            with contextlib.suppress(Exception):
                url = (action.model_dump(exclude_none=True).get("navigate") or {}).get("url")
                if url:
                    return str(url) if str(url).startswith("http") else None
        return None

    @staticmethod
    def _finished(agent: Any) -> bool:
        with contextlib.suppress(Exception):
            return bool(agent.history.is_done())
        return False

    @staticmethod
    async def _current_url(agent: Any) -> str | None:
        session = getattr(agent, "browser_session", None)
        if session is not None:
            with contextlib.suppress(Exception):
                url = await asyncio.wait_for(session.get_current_page_url(), 2.0)
                if url and url.startswith("http"):
                    return str(url)
        items = getattr(getattr(agent, "history", None), "history", None) or []
        for item in reversed(items):
            url = getattr(getattr(item, "state", None), "url", None)
            if url and str(url).startswith("http"):
                return str(url)
        return None

    @staticmethod
    def _skip(moment: str, exc: BaseException) -> None:
        kind = (
            "timed out"
            if isinstance(exc, TimeoutError)
            else f"failed ({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})"
        )
        log.warning("webcoach: coach %s %s; the agent goes on unadvised", moment, kind)
