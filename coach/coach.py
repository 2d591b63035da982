"""The Coach: retrieval + decision + budget. It knows nothing of agents: the hooks (webcoach.hooks) call it.

coach = Coach(EpisodeStore())                       # rule-based decider
coach = Coach(store, llm="anthropic:claude-sonnet-4-5")   # LLM decider (falls back to silence on any error)
advice = await coach.advise(task, url, trajectory)  # what to say now, or None
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from webcoach.coach.advice import Advice, Situation
from webcoach.coach.decide import Decider, RuleDecider, RuleSettings
from webcoach.coach.scope import run_site, scope_hits
from webcoach.condenser.site import site_of
from webcoach.condenser.trajectory import Trajectory
from webcoach.memory.ranking import Hit, RetrievalWeights

if TYPE_CHECKING:
    from webcoach.memory.store import EpisodeStore

log = logging.getLogger("webcoach")


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
            from webcoach.memory.store import EpisodeStore

            store = EpisodeStore()
        self.store = store
        self.config = config or CoachConfig()
        self.llm = llm
        if decider is None:
            if llm is not None:
                from webcoach.coach.llm_decider import LLMDecider
                from webcoach.providers import resolve_model

                decider = LLMDecider(resolve_model(llm))
            else:
                decider = RuleDecider(RuleSettings(min_similarity=self.config.min_similarity))
        self.decider = decider

    # --- retrieval and decision -------------------------------------------------------------------------------------

    async def retrieve(self, task: str, url: str | None = None) -> list[Hit]:
        if site_of(url) is None and (named := run_site(None, task)) is not None:
            # Before its first page (about:blank) a run's site is the one its task names, as scope_hits judges it:
            # retrieve that site's own episodes first, as a URL would.
            url = f"https://{named}/"

        def search() -> list[Hit]:
            # A step waits at most timeout_s for the coach: bound the server calls by it too, so a stopped server
            # leaves no thread hanging behind the step.
            with self.store.time_limit(self.config.timeout_s):
                return self.store.search(task, url, self.config.k, weights=self.config.weights)

        # Chroma's client is synchronous: keep it off the agent's event loop.
        return await asyncio.to_thread(search)

    def allowed(self, advice: Advice, given: Sequence[Advice], step: int) -> bool:
        """The budget: a maximum per run, a gap between interventions, never the same advice twice."""
        if len(given) >= self.config.max_interventions:
            return False
        if any(a.key == advice.key or a.render() == advice.render() for a in given):
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
            # Site scope is a boundary, enforced here for every decider: see coach/scope.py.
            site = run_site(url, task)
            situation = Situation(
                task=task,
                url=url,
                hits=scope_hits(found, url, task),
                trajectory=trajectory,
                step=n,
                given=tuple(given),
                site=site,
            )
            advice = await self.decider.decide(situation)
            if advice is not None and advice.site != site:
                advice = advice.model_copy(update={"site": site})
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
