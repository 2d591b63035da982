"""`watch(coach, context, task=...)`: any Playwright script's run is traced and stored when its block ends.

Real Playwright (async API) on Debian chromium against the local shop, a real EpisodeStore on tmp_path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, async_playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from webcoach.coach.coach import Coach
from webcoach.condenser.episode import Outcome
from webcoach.hooks.playwright import watch
from webcoach.memory.store import EpisodeStore

TASK = "Find the cheapest history book on Acme Books"


@pytest.fixture
async def context(chromium: str) -> AsyncIterator[BrowserContext]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield await browser.new_context()
        finally:
            await browser.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EpisodeStore]:
    with EpisodeStore(tmp_path / "store", embedder="hashing") as opened:
        yield opened


def runs_dir() -> Path:
    return Path(os.environ["WEBCOACH_HOME"]) / "runs"


async def browse_to_history(context: BrowserContext, site: str) -> Any:
    page = await context.new_page()
    await page.goto(f"{site}/shop/index.html")
    await page.click("text=Catalog")
    await page.click("text=History")
    return page


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [("success", Outcome.SUCCESS), ("failure", Outcome.FAILURE), (None, Outcome.UNKNOWN)],
)
async def test_the_watched_run_is_stored_with_the_scripts_verdict(
    verdict: str | None, expected: Outcome, context: BrowserContext, site: str, store: EpisodeStore
) -> None:
    async with watch(Coach(store), context, task=TASK) as w:
        page = await browse_to_history(context, site)
        assert "The Guns of August" in await page.inner_text("#books")
        w.outcome = verdict
        assert store.count() == 0  # stored when the block ends, not before

    assert store.count() == 1
    assert w.episode is not None and store.contains(w.episode.id)
    episode = store.get(w.episode.id)
    assert episode.task == TASK and episode.outcome is expected
    # The script's own verdict is the script's claim, as an agent's is: nobody vouches for it.
    assert episode.outcome_by == ("agent" if verdict else "none") and episode.trust == "agent"
    assert episode.source_kind.startswith("playwright") and episode.step_count >= 3
    assert "catalog-history.html" in episode.summary
    # The raw trace holds whatever was typed (passwords too): condensed, then gone, unless keep_trace=True.
    assert w.trace.parent == runs_dir() and not w.trace.exists() and not list(runs_dir().glob("trace-*"))
    with pytest.raises(PlaywrightError):  # watch closed the context
        await context.new_page()


async def test_a_script_that_raises_is_stored_as_a_failure_and_the_error_propagates(
    context: BrowserContext, site: str, store: EpisodeStore, tmp_path: Path
) -> None:
    trace = tmp_path / "traces" / "run.zip"
    with pytest.raises(PlaywrightTimeoutError):
        async with watch(Coach(store), context, task=TASK, path=trace, keep_trace=True) as w:
            page = await browse_to_history(context, site)
            await page.click("#sort-by-price", timeout=300)  # no such control: the script fails here

    assert w.trace == trace and trace.stat().st_size > 0 and trace.stat().st_mode & 0o777 == 0o600  # kept, private
    assert store.count() == 1 and w.episode is not None
    episode = store.get(w.episode.id)
    assert episode.outcome is Outcome.FAILURE and episode.outcome_by == "agent" and episode.trust == "agent"
    assert any("#sort-by-price" in m.detail and m.kind in ("timeout", "error") for m in episode.failure_modes)


async def test_a_script_that_closes_the_context_itself_is_not_broken_by_watch(
    context: BrowserContext, site: str, store: EpisodeStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="webcoach")
    async with watch(Coach(store), context, task=TASK) as w:
        await browse_to_history(context, site)
        w.outcome = "success"
        await context.close()  # what many scripts end with; the trace is lost with the context

    assert store.count() == 0 and w.episode is None
    assert any("leave the context open inside the `watch` block" in r.getMessage() for r in caplog.records)
    assert not runs_dir().exists() or list(runs_dir().iterdir()) == []  # no empty trace file left behind


def test_an_unknown_outcome_is_refused_where_it_is_set(tmp_path: Path) -> None:
    from webcoach.hooks.playwright import Watcher

    watcher = Watcher(tmp_path / "t.zip")
    with pytest.raises(ValueError, match="'success', 'failure' or None"):
        watcher.outcome = "succes"
    watcher.outcome = "failure"
    assert watcher.outcome == "failure"


async def test_a_script_that_tries_a_placeholder_url_is_still_stored(
    context: BrowserContext, site: str, store: EpisodeStore
) -> None:
    """Agents and scripts try URLs such as https://[website].com/r; the failed navigation is in the trace, and the run
    is stored (it raised ValueError from deep inside condensing, into the script, before)."""
    async with watch(Coach(store), context, task=TASK) as w:
        page = await browse_to_history(context, site)
        with pytest.raises(PlaywrightError):
            await page.goto("https://[website].com/r")
        w.outcome = "failure"
    assert w.episode is not None and store.get(w.episode.id).outcome is Outcome.FAILURE
    assert "[website]" in store.get(w.episode.id).model_dump_json()


async def test_advice_a_script_asks_for_is_logged_and_credited_with_the_run(
    context: BrowserContext, site: str, store: EpisodeStore
) -> None:
    from webcoach.condenser.rules import condense_rules
    from webcoach.condenser.trajectory import Step, Trajectory

    shop = f"{site}/shop"
    past = condense_rules(
        Trajectory(
            source_kind="browser-use-history",
            steps=(
                Step(index=0, action="goto", url="about:blank", target=f"{shop}/index.html"),
                Step(index=1, action="click", url=f"{shop}/index.html", target="Deals", error="element not found"),
                Step(index=2, action="done", url=f"{shop}/index.html", result=None),
            ),
            claimed_success=False,
        ),
        TASK,
    )
    store.add(past)
    async with watch(Coach(store), context, task=TASK) as w:
        advice = await w.advise(f"{shop}/index.html")
        assert advice is not None and advice.episode_ids == [past.id]
        assert await w.advise(f"{shop}/index.html") is None  # the budget: never the same advice twice
        await browse_to_history(context, site)
        w.outcome = "success"
    (entry,) = store.advice_log().entries()
    assert (entry.channel, entry.run, entry.episode_ids, entry.outcome) == ("watch", w.run_id, [past.id], "success")
    assert w.episode is not None and entry.run_episode == w.episode.id
    assert (store.get(past.id).helped, store.get(past.id).hurt) == (1, 0)
