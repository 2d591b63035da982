"""The coach in the loop, end to end: a real browser-use Agent on Debian chromium and the local shop, driven by a
ScriptedLLM that records every prompt, coached from a real EpisodeStore on tmp_path.

What a user relies on: advice from a similar past run reaches the agent's next LLM call, once, citing that run; nothing
is said when memory holds nothing relevant; a broken or slow coach never changes the run; every coached run is stored
and moves the usefulness of the episodes its advice came from.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from webcoach.coach.advice import Advice, Situation
from webcoach.coach.coach import Coach, CoachConfig
from webcoach.condenser.condense import acondense
from webcoach.condenser.episode import Episode, Outcome
from webcoach.condenser.rules import condense_rules
from webcoach.condenser.trajectory import Step, Trajectory
from webcoach.errors import StoreError
from webcoach.hooks.browser_session import make_browser_profile
from webcoach.hooks.browser_use import CoachingSession, run_coached
from webcoach.hooks.scripted import ScriptedLLM
from webcoach.llm import FunctionModel
from webcoach.memory.advice_log import tally
from webcoach.memory.store import EpisodeStore

MARK = "[webcoach notes from past runs"  # how every injected note starts (Advice.render)

# A real browser-use history of a failed run on the shop (written by tests/test_browser_use_history.py), recorded on
# port 8765: click on a missing element [999] on deals.html, the 404 expired-deal.html page, a failed select, gave up.
RECORDED = Path(__file__).parents[1] / "data" / "browser_use_failed_deals.json"
RECORDED_HOST = "127.0.0.1:8765"
RECORDED_TASK = "Find this week's best deal at Acme Books and report its price."

SCIFI_TASK = "Find the cheapest science fiction book on Acme Books"
HISTORY_TASK = "Find the cheapest history book on Acme Books"
DEAL_TASK = "Find the best deal at Acme Books this week and report its price"


pytestmark = pytest.mark.usefixtures("offline_browser_use")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EpisodeStore]:
    with EpisodeStore(tmp_path / "store", embedder="hashing") as opened:
        yield opened


# --- helpers --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Run:
    history: Any
    llm: ScriptedLLM
    advice: list[Advice]
    seconds: float

    @property
    def prompts(self) -> list[str]:
        return self.llm.prompts

    def marks(self) -> list[int]:
        """How many advice notes each LLM call saw, call by call."""
        return [p.count(MARK) for p in self.prompts]

    def seen_in(self, advice: Advice) -> list[int]:
        """The LLM calls whose prompt holds this advice, once per occurrence."""
        text = advice.render()
        return [i for i, p in enumerate(self.prompts) for _ in range(p.count(text))]


def agent_for(task: str, llm: ScriptedLLM, chromium: str, profile: Path) -> Any:
    from browser_use import Agent

    return Agent(task=task, llm=llm, browser_profile=make_browser_profile(profile, executable_path=chromium), use_judge=False)


async def coached(coach: Coach, task: str, script: list[Any], chromium: str, profile: Path, max_steps: int = 12) -> Run:
    llm = ScriptedLLM(script)
    advice: list[Advice] = []
    started = time.perf_counter()
    history = await run_coached(agent_for(task, llm, chromium, profile), coach, max_steps=max_steps, on_advice=advice.append)
    return Run(history=history, llm=llm, advice=advice, seconds=time.perf_counter() - started)


def assert_history_untouched(history: Any, results_per_step: Sequence[int]) -> None:
    """Injected notes live in the next prompt only: the agent's own history keeps exactly its actions' results."""
    assert [len(item.result) for item in history.history] == list(results_per_step)
    assert not any(MARK in (r.extracted_content or "") for item in history.history for r in item.result)
    assert not any(MARK in (r.long_term_memory or "") for item in history.history for r in item.result)


async def recorded_failure(site: str) -> Episode:
    """The recorded failed run, moved to this session's shop port, condensed as `webcoach ingest` would."""
    text = RECORDED.read_text(encoding="utf-8").replace(RECORDED_HOST, site.removeprefix("http://"))
    return await acondense(json.loads(text), task=RECORDED_TASK)


def unrelated_episodes() -> list[Episode]:
    """Failed runs on other sites, with the same kind of error the live runs meet: only the task decides relevance."""
    episodes = []
    for task, url in (
        ("Book a hotel room in Berlin for two adults next weekend", "https://www.booking.com/"),
        ("Look up the integral of x sin x", "https://www.wolframalpha.com/"),
        ("Find a vegetarian lasagna recipe with at least 4 stars", "https://www.allrecipes.com/"),
    ):
        traj = Trajectory(
            source_kind="browser-use-history",
            steps=(
                Step(index=0, action="goto", url="about:blank", target=url),
                Step(index=1, action="click", url=url, target="#search", error="Element index 7 not available"),
                Step(index=2, action="done", url=url, result="gave up"),
            ),
            claimed_success=False,
            final_answer="gave up",
        )
        episodes.append(condense_rules(traj, task))
    return episodes


def deal_script(shop: str, *, success: bool) -> list[Any]:
    """A run on the deals task that repeats the recorded run's mistakes: the missing element, then the 404 page."""
    return [
        [{"navigate": {"url": f"{shop}/index.html"}}],  # call 1 sees the start advice (the site is known from here)
        [{"click": {"index": 999}}],  # fails as in the recorded run -> same_error, seen by call 2
        [{"navigate": {"url": f"{shop}/deals.html"}}],
        [{"navigate": {"url": f"{shop}/expired-deal.html"}}],  # the recorded dead end -> dead_end, seen by call 4
        [{"done": {"text": "There is no deal this week" if success else "The deals never load", "success": success}}],
    ]


# --- default set: one coached run on a store seeded with a recorded failure ------------------------------------


async def test_advice_from_a_recorded_failure_reaches_the_right_llm_calls_once_each(
    site: str, chromium: str, tmp_path: Path, store: EpisodeStore
) -> None:
    shop = f"{site}/shop"
    past = await recorded_failure(site)
    store.add(past)

    run = await coached(Coach(store), DEAL_TASK, deal_script(shop, success=True), chromium, tmp_path / "profile")

    assert [a.trigger for a in run.advice] == ["start", "same_error", "dead_end"]
    assert all(a.episode_ids == [past.id] for a in run.advice)
    start, same_error, dead_end = run.advice
    assert "click (999) failed" in start.render()  # quoted data: brackets cannot open a fake label
    assert (same_error.step, dead_end.step) == (2, 4)  # the agent steps after which they were given
    # One-shot: each note is in the prompt of the call right after its trigger, and in no other. The agent starts on
    # a blank page and the task names no site, so the start advice waits for the first page (call 1).
    assert run.seen_in(start) == [1]
    assert run.seen_in(same_error) == [2]
    assert run.seen_in(dead_end) == [4]
    assert run.marks() == [0, 1, 1, 0, 1]
    assert f"[webcoach notes from past runs on {site.removeprefix('http://')}]" in run.prompts[1] and past.id in run.prompts[1]

    history = run.history
    assert history.number_of_steps() == 5 and history.final_result() == "There is no deal this week"
    assert_history_untouched(history, [1] * 5)

    # Stored at the end, and the episode whose advice preceded this success earns credit.
    assert store.count() == 2
    (episode,) = [e for e in store.list() if e.id != past.id]
    assert episode.task == DEAL_TASK and episode.outcome is Outcome.SUCCESS and episode.outcome_by == "agent"
    assert (store.get(past.id).helped, store.get(past.id).hurt) == (1, 0)
    assert (episode.helped, episode.hurt) == (0, 0)

    # The advice log holds each intervention with its run's outcome, and the counts it gives match the store's.
    logged = store.advice_log().entries()[::-1]
    assert [(e.trigger, e.step, e.episode_ids, e.channel) for e in logged] == [
        ("start", None, [past.id], "browser-use"),
        ("same_error", 2, [past.id], "browser-use"),
        ("dead_end", 4, [past.id], "browser-use"),
    ]
    assert {(e.run, e.outcome, e.run_episode, e.site) for e in logged} == {
        (logged[0].run, "success", episode.id, site.removeprefix("http://"))
    }  # a local site is host:port
    assert tally(logged) == {past.id: (1, 0)}


# --- slow: several runs ---------------------------------------------------------------------------------------


def scifi_script(shop: str) -> list[Any]:
    return [
        [{"navigate": {"url": f"{shop}/index.html"}}],
        [{"input": {"target": "Title or author", "text": "science fiction"}}, {"send_keys": {"keys": "Enter"}}],
        [{"click": {"index": 999}}],  # a "sort by price" control that does not exist
        [{"navigate": {"url": f"{shop}/deals.html"}}],
        [{"click": {"text": "Last week's deal"}}],  # 404
        [{"go_back": {}}],
        [{"done": {"text": "Search cannot sort by price; no answer", "success": False}}],
    ]


def history_script(shop: str) -> list[Any]:
    return [
        [{"navigate": {"url": f"{shop}/index.html"}}],  # call 0: start advice
        [{"input": {"target": "Title or author", "text": "history"}}, {"send_keys": {"keys": "Enter"}}],
        [{"click": {"index": 999}}],  # run 1's mistake -> same_error, seen by call 3
        [{"navigate": {"url": f"{shop}/deals.html"}}],
        [{"click": {"text": "Last week's deal"}}],  # run 1's dead end -> dead_end, seen by call 5
        [{"navigate": {"url": f"{shop}/catalog.html"}}],
        [{"click": {"text": "History"}}],
        [{"done": {"text": "The Guns of August ($10.75)", "success": True}}],
    ]


@pytest.mark.slow
async def test_a_failed_run_is_stored_and_coaches_the_next_similar_task(
    site: str, chromium: str, tmp_path: Path, store: EpisodeStore
) -> None:
    shop = f"{site}/shop"
    coach = Coach(store)

    first = await coached(coach, SCIFI_TASK, scifi_script(shop), chromium, tmp_path / "profile-1")
    assert first.advice == [] and first.marks() == [0] * 7  # empty memory: not a word
    assert store.count() == 1
    (run1,) = store.list()
    assert run1.task == SCIFI_TASK and run1.outcome is Outcome.FAILURE and run1.outcome_by == "agent"
    kinds = {m.kind for m in run1.failure_modes}
    assert {"error", "dead_end", "gave_up"} <= kinds

    second = await coached(coach, HISTORY_TASK, history_script(shop), chromium, tmp_path / "profile-2")
    assert [a.trigger for a in second.advice] == ["start", "same_error", "dead_end"]
    assert all(a.episode_ids == [run1.id] for a in second.advice)
    assert "Coach: Before you start:" in second.prompts[1] and run1.id in second.prompts[1]
    assert [second.seen_in(a) for a in second.advice] == [[1], [3], [5]]
    assert second.marks() == [0, 1, 0, 1, 0, 1, 0, 0]
    assert second.history.final_result() == "The Guns of August ($10.75)"
    assert_history_untouched(second.history, [1, 2, 1, 1, 1, 1, 1, 1])

    assert store.count() == 2
    assert (store.get(run1.id).helped, store.get(run1.id).hurt) == (1, 0)


@pytest.mark.slow
async def test_no_relevant_memory_means_no_advice(site: str, chromium: str, tmp_path: Path, store: EpisodeStore) -> None:
    shop = f"{site}/shop"
    unrelated = unrelated_episodes()
    store.add_many(unrelated)
    coach = Coach(store)
    assert await coach.retrieve(HISTORY_TASK, f"{shop}/index.html")  # memory is not empty, just not about this

    run = await coached(coach, HISTORY_TASK, history_script(shop), chromium, tmp_path / "profile")

    assert run.advice == [] and run.marks() == [0] * 8
    assert run.history.final_result() == "The Guns of August ($10.75)"
    assert store.count() == len(unrelated) + 1  # still stored, for next time
    assert all((store.get(e.id).helped, store.get(e.id).hurt) == (0, 0) for e in unrelated)


class ExplodingDecider:
    def __init__(self) -> None:
        self.calls = 0

    async def decide(self, situation: Situation) -> Advice | None:
        self.calls += 1
        raise RuntimeError("decider exploded")


class SleepyDecider:
    """Would advise at every call, but only after longer than the coach may take."""

    def __init__(self) -> None:
        self.calls = 0

    async def decide(self, situation: Situation) -> Advice | None:
        self.calls += 1
        await asyncio.sleep(3.0)
        return Advice(text=f"late tip {self.calls}", why="too late", confidence=0.9, key=f"late-{self.calls}")


class BrokenStore:
    """A store whose every call fails, as a corrupt or unreachable Chroma would."""

    def __init__(self) -> None:
        self.calls = 0

    def _fail(self, *args: object, **kwargs: object) -> Any:
        self.calls += 1
        raise StoreError("Chroma could not search (/nowhere): disk I/O error")

    def __getattr__(self, name: str) -> Any:
        # every method of the store, whatever the coach calls (search, time_limit, contains, add, ...), fails the same way
        return self._fail


@pytest.mark.slow
@pytest.mark.parametrize("broken", ["decider raises", "decider too slow", "store raises"])
async def test_a_broken_coach_leaves_the_run_intact(
    broken: str, site: str, chromium: str, tmp_path: Path, store: EpisodeStore, caplog: pytest.LogCaptureFixture
) -> None:
    shop = f"{site}/shop"
    store.add(await recorded_failure(site))
    culprit: ExplodingDecider | SleepyDecider | BrokenStore
    if broken == "decider raises":
        culprit = ExplodingDecider()
        coach = Coach(store, decider=culprit)
    elif broken == "decider too slow":
        culprit = SleepyDecider()
        coach = Coach(store, decider=culprit, config=CoachConfig(timeout_s=0.2))
    else:
        culprit = BrokenStore()
        coach = Coach(culprit)  # type: ignore[arg-type]
    caplog.set_level(logging.WARNING, logger="webcoach")

    run = await coached(coach, DEAL_TASK, deal_script(shop, success=True), chromium, tmp_path / "profile")

    assert culprit.calls > 0  # the coach was really consulted
    assert run.advice == [] and run.marks() == [0] * 5
    assert run.history.action_names() == ["navigate", "click", "navigate", "navigate", "done"]
    assert run.history.final_result() == "There is no deal this week" and run.history.is_successful() is True
    assert_history_untouched(run.history, [1] * 5)
    warnings = [r.getMessage() for r in caplog.records if r.name == "webcoach"]
    if broken == "decider raises":
        assert any("coach failed (RuntimeError: decider exploded)" in w for w in warnings)
        assert store.count() == 2  # the run is still stored
    elif broken == "decider too slow":
        # after each step but the last, `done` (the start advice waits for the first page: the task names no site):
        # 0.2 s at most
        assert sum("timed out" in w for w in warnings) == 4
        assert run.seconds < 6 * 3.0  # never waited out the decider
        assert store.count() == 2
    else:
        assert any("disk I/O error" in w and "storing the run" in w for w in warnings)


def failing_history_script(shop: str) -> list[Any]:
    return [
        [{"navigate": {"url": f"{shop}/index.html"}}],
        [{"click": {"text": "Deals"}}],
        [{"done": {"text": "No history books on sale", "success": False}}],
    ]


@pytest.mark.slow
async def test_hooks_and_finish_route_coaches_and_blames_advice_that_preceded_a_failure(
    site: str, chromium: str, tmp_path: Path, store: EpisodeStore
) -> None:
    shop = f"{site}/shop"
    past = await recorded_failure(site)
    store.add(past)
    coach = Coach(store)
    llm = ScriptedLLM(failing_history_script(shop))
    agent = agent_for(DEAL_TASK, llm, chromium, tmp_path / "profile")

    session = CoachingSession(coach, agent)
    history = await agent.run(max_steps=10, on_step_start=session.before_step, on_step_end=session.after_step)
    episode = await session.on_done(history)

    assert [p.count(MARK) for p in llm.prompts] == [0, 1, 0]
    assert "Coach: Before you start:" in llm.prompts[1] and past.id in llm.prompts[1]
    assert episode is not None and episode.outcome is Outcome.FAILURE and store.contains(episode.id)
    assert (store.get(past.id).helped, store.get(past.id).hurt) == (0, 1)
    assert_history_untouched(history, [1, 1, 1])


def llm_coach(answer: str | None, cite: str) -> FunctionModel:
    """An LLM coach: `answer` is what it says before the run and after a failed step (None: junk every time)."""

    def decide(system: str, prompt: str) -> str:
        if answer is None:
            return "Sure! I think the agent is doing great."
        if "The agent has not started yet." in prompt:
            return json.dumps({"intervene": True, "advice": f"Start: {answer}", "cited_ids": [cite]})
        if "-> ERROR" in prompt:
            return json.dumps({"intervene": True, "advice": f"After the error: {answer}", "cited_ids": [cite]})
        return json.dumps({"intervene": False})

    return FunctionModel(decide, model_name="test-coach")


@pytest.mark.slow
@pytest.mark.parametrize("answer", [None, "Deals never load here; report that there is no deal."], ids=["junk", "valid"])
async def test_llm_coach_is_silent_on_junk_and_heard_when_it_decides(
    answer: str | None, site: str, chromium: str, tmp_path: Path, store: EpisodeStore
) -> None:
    shop = f"{site}/shop"
    past = await recorded_failure(site)
    store.add(past)
    model = llm_coach(answer, past.id)
    coach = Coach(store, llm=model, config=CoachConfig(store_runs=False))

    run = await coached(coach, DEAL_TASK, deal_script(shop, success=True), chromium, tmp_path / "profile")

    # Consulted after every step but `done` (advice then would reach no model); the start advice waits for the first
    # page (the task names no site), and a step that brought it has no second consultation.
    assert len(model.calls) == (5 if answer is None else 4)
    assert run.history.final_result() == "There is no deal this week"
    assert store.count() == 1  # store_runs=False: the run itself is not kept...
    if answer is None:
        assert run.advice == [] and run.marks() == [0] * 5
        assert store.get(past.id).helped == 0
        return
    assert (store.get(past.id).helped, store.get(past.id).hurt) == (1, 0)  # ...but the advice it followed is credited
    assert [(a.trigger, a.step, a.observations[0].quote) for a in run.advice] == [
        ("llm", None, f'"Start: {answer}"'),
        ("llm", 2, f'"After the error: {answer}"'),  # the same answer later is a repeat: not given again
    ]
    assert all(a.episode_ids == [past.id] for a in run.advice)
    assert [run.seen_in(a) for a in run.advice] == [[1], [2]]
    assert run.marks() == [0, 1, 1, 0, 0]
