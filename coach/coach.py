"""The Coach: retrieval + decision + budget, and the entry points that plug it into a run.

coach = Coach(EpisodeStore())                       # rule-based decider
coach = Coach(store, llm="anthropic:claude-sonnet-4-5")   # LLM decider (falls back to silence on any error)
history = await coach.run(agent, max_steps=30)      # advice injected during the run; the run is stored at the end
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..condenser.trajectory import Trajectory
from .advice import Advice, Situation
from .decide import Decider, RuleDecider, RuleSettings
from .ranking import Hit, RetrievalWeights

if TYPE_CHECKING:
    from ..condenser.episode import Episode
    from ..condenser.store import EpisodeStore

log = logging.getLogger("webcoach")

StepHook = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class CoachConfig:
    """Every knob of the coach in one place; `webcoach advise --explain` prints them."""

    weights: RetrievalWeights = field(default_factory=RetrievalWeights)
    k: int = 5  # episodes handed to the decider
    min_similarity: float = 0.35  # below this an episode is not about the same kind of task
    max_interventions: int = 3  # per run, start advice included
    min_steps_between: int = 2  # agent steps between two interventions
    timeout_s: float = 5.0  # longest a step waits for the coach; past it the step goes on unadvised
    advise_at_start: bool = True
    store_runs: bool = True  # condense and store each coached run when it ends
    update_usefulness: bool = True  # credit/blame the cited episodes with the run's outcome


class Coach:
    def __init__(
        self,
        store: EpisodeStore | None = None,
        *,
        llm: object | None = None,
        config: CoachConfig | None = None,
        decider: Decider | None = None,
    ) -> None:
        if store is None:
            from ..condenser.store import EpisodeStore

            store = EpisodeStore()
        self.store = store
        self.config = config or CoachConfig()
        self.llm = llm
        if decider is None:
            if llm is not None:
                from ..condenser.models import resolve_model
                from .llm_decider import LLMDecider

                decider = LLMDecider(resolve_model(llm))
            else:
                decider = RuleDecider(RuleSettings(min_similarity=self.config.min_similarity))
        self.decider = decider
        self._sessions: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    # --- retrieval and decision -------------------------------------------------------------------------------------

    async def retrieve(self, task: str, url: str | None = None) -> list[Hit]:
        # Chroma's client is synchronous: keep it off the agent's event loop.
        return await asyncio.to_thread(self.store.search, task, url, self.config.k, weights=self.config.weights)

    def allowed(self, advice: Advice, given: Sequence[Advice], step: int) -> bool:
        """The budget: a maximum per run, a gap between interventions, never the same advice twice."""
        if len(given) >= self.config.max_interventions:
            return False
        if any(a.key == advice.key or a.text == advice.text for a in given):
            return False
        last = max((a.step or 0 for a in given), default=None)
        return not (last is not None and advice.step is not None and advice.step - last < self.config.min_steps_between)

    async def advise(
        self,
        task: str,
        url: str | None = None,
        trajectory: Trajectory | None = None,
        *,
        step: int | None = None,
        given: Sequence[Advice] = (),
        hits: Sequence[Hit] | None = None,
    ) -> Advice | None:
        """What the coach would say now (None: nothing worth saying). Never raises: a broken coach stays silent."""
        try:
            found = list(hits) if hits is not None else await self.retrieve(task, url)
            n = step if step is not None else (len(trajectory.steps) if trajectory is not None else 0)
            if trajectory is None and not self.config.advise_at_start:
                return None
            situation = Situation(task=task, url=url, hits=tuple(found), trajectory=trajectory, step=n, given=tuple(given))
            advice = await self.decider.decide(situation)
        except Exception as exc:  # the coach fails open: whatever broke, the agent runs on unadvised
            log.warning(
                "webcoach: coach failed (%s: %s); continuing without advice",
                type(exc).__name__,
                str(exc).splitlines()[0][:200] if str(exc) else "",
            )
            return None
        if advice is None or not self.allowed(advice, given, n):
            return None
        return advice

    # --- plugging into runs -----------------------------------------------------------------------------------------

    def hooks(self, agent: Any) -> tuple[StepHook, StepHook]:
        """(on_step_start, on_step_end) for `agent.run(...)`; call `await coach.finish(agent, history)` after the run to store it."""
        from ..hooks.browser_use import CoachingSession

        session = CoachingSession(self, agent)
        self._sessions[agent] = session  # found again by finish(); weak, so the agent is not kept alive
        return session.before_step, session.after_step

    async def run(
        self, agent: Any, max_steps: int = 30, *, on_advice: Callable[[Advice], None] | None = None, **run_kwargs: Any
    ) -> Any:
        """Run a browser-use Agent with coaching; the run is condensed and stored when it ends. Returns its history.
        `on_advice` is called with each intervention as it is made (e.g. to show it)."""
        from ..hooks.browser_use import CoachingSession

        session = CoachingSession(self, agent, on_advice=on_advice)
        session.warm_up()  # retrieval overlaps the browser's start
        history = await agent.run(
            max_steps=max_steps, on_step_start=session.before_step, on_step_end=session.after_step, **run_kwargs
        )
        await session.on_done(history)
        return history

    async def finish(self, agent: Any, history: Any) -> Episode | None:
        """For callers who used `hooks()`: condense and store the run, update usefulness. Returns the stored episode."""
        session = self._sessions.pop(agent, None)
        if session is None:
            from ..hooks.browser_use import CoachingSession

            session = CoachingSession(self, agent)
        return await session.on_done(history)

    def watch(self, context: Any, *, task: str, path: Any = None) -> Any:
        """`async with coach.watch(context, task=...) as w:` records a Playwright trace of `context`; when the block ends
        the context is closed and the run is condensed and stored (set `w.outcome = "success"` if the script knows)."""
        from ..hooks.playwright import watch

        return watch(self, context, task=task, path=path)
