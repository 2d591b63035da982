"""The rule-based decider and the coach's budget, on episodes condensed from realistic trajectories."""

from __future__ import annotations

from webcoach.coach.advice import Advice, Situation
from webcoach.coach.coach import Coach, CoachConfig
from webcoach.coach.decide import RuleDecider
from webcoach.condenser.episode import Episode
from webcoach.condenser.rules import condense_rules
from webcoach.condenser.trajectory import HttpFailure, Step, Trajectory
from webcoach.memory.ranking import Hit

SHOP = "http://127.0.0.1:9/shop"
SITE = "127.0.0.1:9"  # a local host is a site per port


def _failed_search() -> Episode:
    traj = Trajectory(
        source_kind="browser-use-history",
        steps=(
            Step(index=0, action="goto", url="about:blank", target=f"{SHOP}/index.html"),
            Step(index=1, action="fill", url=f"{SHOP}/index.html", target="#q", value="cheapest sci-fi"),
            Step(
                index=2,
                action="click",
                url=f"{SHOP}/search.html",
                target="#sort-by-price",
                error="Timeout 800ms exceeded waiting for #sort-by-price",
            ),
            Step(
                index=3,
                action="click",
                url=f"{SHOP}/search.html",
                target="#sort-by-price",
                error="Timeout 800ms exceeded waiting for #sort-by-price",
            ),
            Step(
                index=4,
                action="click",
                url=f"{SHOP}/search.html",
                target="#sort-by-price",
                error="Timeout 800ms exceeded waiting for #sort-by-price",
            ),
            Step(index=5, action="goto", url=f"{SHOP}/search.html", target=f"{SHOP}/expired-deal.html", http_status=404),
            Step(index=6, action="done", url=f"{SHOP}/expired-deal.html", result="gave up"),
        ),
        claimed_success=False,
        final_answer="gave up",
        http_failures=(HttpFailure(url=f"{SHOP}/expired-deal.html", status=404),),
    )
    return condense_rules(traj, "Find the cheapest science fiction book on Acme Books")


def _success() -> Episode:
    traj = Trajectory(
        source_kind="browser-use-history",
        steps=(
            Step(index=0, action="goto", url="about:blank", target=f"{SHOP}/index.html"),
            Step(index=1, action="click", url=f"{SHOP}/index.html", target="Catalog"),
            Step(index=2, action="click", url=f"{SHOP}/catalog.html", target="Cooking"),
            Step(index=3, action="done", url=f"{SHOP}/catalog-cooking.html", result="The Vegetarian Lasagna Book"),
        ),
        claimed_success=True,
        final_answer="The Vegetarian Lasagna Book",
    )
    return condense_rules(traj, "Find the cheapest cooking book on Acme Books")


def _hit(ep: Episode, similarity: float) -> Hit:
    return Hit(episode=ep, score=similarity, similarity=similarity, recency=1.0, usefulness=0.5, same_site=True)


def _live(*steps: Step) -> Trajectory:
    return Trajectory(source_kind="browser-use-history", steps=steps)


async def test_start_advice_combines_success_route_and_failure_lessons_and_cites_both() -> None:
    fail, win = _failed_search(), _success()
    advice = await RuleDecider().decide(
        Situation(
            site=SITE, task="Find the cheapest history book", url=f"{SHOP}/index.html", hits=(_hit(win, 0.8), _hit(fail, 0.7))
        )
    )
    assert advice is not None and advice.trigger == "start"
    assert set(advice.episode_ids) == {win.id, fail.id}
    assert "catalog-cooking.html" in advice.render() and "#sort-by-price" in advice.render()


async def test_silent_when_nothing_relevant() -> None:
    fail = _failed_search()
    assert await RuleDecider().decide(Situation(site=SITE, task="Book a flight", url=None, hits=(_hit(fail, 0.1),))) is None
    assert await RuleDecider().decide(Situation(site=SITE, task="Book a flight", url=None, hits=())) is None


async def test_same_error_during_the_run_triggers_advice_citing_the_failed_episode() -> None:
    fail, win = _failed_search(), _success()
    live = _live(
        Step(index=0, action="goto", url="about:blank", target=f"{SHOP}/index.html"),
        Step(
            index=1,
            action="click",
            url=f"{SHOP}/search.html",
            target="#sort-by-price",
            error="Timeout 5000ms exceeded waiting for #sort-by-price",
        ),
    )
    advice = await RuleDecider().decide(
        Situation(site=SITE, task="t", url=f"{SHOP}/search.html", hits=(_hit(fail, 0.7), _hit(win, 0.6)), trajectory=live, step=2)
    )
    assert advice is not None and advice.trigger == "same_error" and advice.step == 2
    assert advice.episode_ids[0] == fail.id and win.id in advice.episode_ids


async def test_dead_end_url_and_loop_and_over_budget() -> None:
    fail, win = _failed_search(), _success()
    hits = (_hit(fail, 0.7), _hit(win, 0.6))
    at_404 = _live(Step(index=0, action="goto", url=f"{SHOP}/index.html", target=f"{SHOP}/expired-deal.html"))
    advice = await RuleDecider().decide(
        Situation(site=SITE, task="t", url=f"{SHOP}/expired-deal.html", hits=hits, trajectory=at_404, step=1)
    )
    assert advice is not None and advice.trigger == "dead_end"

    twice = _live(*(Step(index=i, action="click", url=f"{SHOP}/help.html", target="Home") for i in range(2)))
    advice = await RuleDecider().decide(
        Situation(site=SITE, task="t", url=f"{SHOP}/help.html", hits=hits, trajectory=twice, step=2)
    )
    assert advice is not None and advice.trigger == "loop"

    wandering = _live(*(Step(index=i, action="click", url=f"{SHOP}/catalog.html", target=f"link {i}") for i in range(8)))
    advice = await RuleDecider().decide(
        Situation(site=SITE, task="t", url=f"{SHOP}/catalog.html", hits=hits, trajectory=wandering, step=8)
    )
    assert advice is not None and advice.trigger == "over_budget" and win.id in advice.episode_ids


async def test_healthy_run_gets_no_advice() -> None:
    fail, win = _failed_search(), _success()
    live = _live(Step(index=0, action="goto", url="about:blank", target=f"{SHOP}/index.html"))
    assert (
        await RuleDecider().decide(
            Situation(
                site=SITE, task="t", url=f"{SHOP}/index.html", hits=(_hit(fail, 0.7), _hit(win, 0.6)), trajectory=live, step=1
            )
        )
        is None
    )


class _Broken:
    async def decide(self, situation: Situation) -> Advice | None:
        raise RuntimeError("decider exploded")


class _Always:
    def __init__(self) -> None:
        self.n = 0

    async def decide(self, situation: Situation) -> Advice | None:
        self.n += 1
        return Advice(text=f"tip {self.n}", why="w", confidence=0.5, key=f"k{self.n}", step=situation.step, trigger="llm")


class _NoStore:
    def search(self, *a: object, **k: object) -> list[Hit]:
        raise AssertionError("hits were given; no search expected")


async def test_budget_gap_and_no_repeats() -> None:
    coach = Coach(_NoStore(), decider=_Always(), config=CoachConfig(max_interventions=2, min_steps_between=2))  # type: ignore[arg-type]
    given: list[Advice] = []
    live = _live(Step(index=0, action="click", url=f"{SHOP}/index.html"))
    for step in range(1, 7):
        advice = await coach.advise("t", trajectory=live, step=step, given=given, hits=[])
        if advice is not None:
            given.append(advice)
    assert [a.step for a in given] == [1, 3]
    repeat = Advice(text="tip 1", why="w", confidence=0.5, key="other", step=9)
    assert not coach.allowed(repeat, given[:1], 9)


async def test_a_broken_decider_or_store_fails_open(caplog: object) -> None:
    coach = Coach(_NoStore(), decider=_Broken())  # type: ignore[arg-type]
    assert await coach.advise("t", hits=[]) is None
    coach = Coach(_NoStore())  # type: ignore[arg-type]
    assert await coach.advise("t") is None  # the store raised: still no exception


async def test_over_budget_counts_actions_like_the_episodes_do() -> None:
    # A browser-use step can hold several actions; episodes count actions, so the live run must be counted the same way.
    fail, win = _failed_search(), _success()  # the success took 4 actions
    hits = (_hit(fail, 0.7), _hit(win, 0.6))
    many = _live(*(Step(index=i, action="click", url=f"{SHOP}/catalog.html", target=f"link {i}") for i in range(8)))
    advice = await RuleDecider().decide(
        Situation(site=SITE, task="t", url=f"{SHOP}/catalog.html", hits=hits, trajectory=many, step=3)
    )
    assert advice is not None and advice.trigger == "over_budget" and "8 steps" in advice.render()
    few = _live(*(Step(index=i, action="click", url=f"{SHOP}/catalog-cooking.html", target=f"link {i}") for i in range(4)))
    assert (
        await RuleDecider().decide(
            Situation(site=SITE, task="t", url=f"{SHOP}/catalog-cooking.html", hits=hits, trajectory=few, step=9)
        )
        is None
    )


def _sign_in() -> Episode:
    traj = Trajectory(
        source_kind="browser-use-history",
        steps=(
            Step(index=0, action="goto", url="about:blank", target=f"{SHOP}/login.html"),
            Step(index=1, action="fill", url=f"{SHOP}/login.html", target="#email", value="reader@example.org"),
            Step(index=2, action="click", url=f"{SHOP}/login.html", target="#signin"),
            Step(index=3, action="done", url=f"{SHOP}/account.html", result="Signed in"),
        ),
        claimed_success=True,
        final_answer="Signed in",
    )
    return condense_rules(traj, "Sign in to Acme Books")


async def test_shorter_path_follows_the_best_success_and_lets_a_similar_task_part_at_its_answer_page() -> None:
    # The demo's situation: a search for the cheapest history book, with memory of the cooking search (similar) and
    # the sign-in (similar enough to be retrieved, last).
    cooking, sign_in = _success(), _sign_in()
    hits = (_hit(cooking, 0.89), _hit(sign_in, 0.58))
    task = "Find the cheapest history book on Acme Books"

    async def advise(*pages: str, task: str = task) -> Advice | None:
        steps = [Step(index=0, action="goto", url="about:blank", target=f"{SHOP}/{pages[0]}")]
        steps += [Step(index=i, action="click", url=f"{SHOP}/{page}", target="link") for i, page in enumerate(pages[:-1], 1)]
        here = f"{SHOP}/{pages[-1]}"
        return await RuleDecider().decide(
            Situation(site=SITE, task=task, url=here, hits=hits, trajectory=_live(*steps), step=len(steps))
        )

    # On the cooking search's route: no lower-ranked success (the sign-in) pulls the agent to the login page.
    assert await advise("index.html", "catalog.html") is None
    # Leaving that route at its last hop, for the history catalog: where a similar task's answer lies, not a detour.
    assert await advise("index.html", "catalog.html", "catalog-history.html") is None
    # The same task as the stored run does hear its route there,
    same = await advise("index.html", "catalog.html", "catalog-history.html", task=cooking.task)
    assert same is not None and same.trigger == "shorter_path" and same.episode_ids == [cooking.id]
    # and so does an agent that wandered off before the route's end: the best success's route, not the sign-in's.
    off = await advise("index.html", "help.html")
    assert off is not None and off.trigger == "shorter_path" and off.episode_ids == [cooking.id], off
