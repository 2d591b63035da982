"""The main job on embedded defaults: record real browser sessions on the bundled shop, condense and store them,
then show what the coach advises for a new task. With ANTHROPIC_API_KEY set, it then runs a coached browser-use
agent on that task (and stores that run too).

Everything lives in the 'demo' namespace of the store, which the demo resets each time; nothing else is touched.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webcoach.condenser.condense import acondense
from webcoach.condenser.episode import Episode
from webcoach.tasks.site import serve

if TYPE_CHECKING:
    from webcoach.coach.advice import Advice
    from webcoach.hooks.runner import RunResult
    from webcoach.memory.ranking import Hit

DEMO_NAMESPACE = "demo"
NEW_TASK = "Find the cheapest history book on Acme Books"
DEMO_PASSWORD = "Demo-Passw0rd-never-stored"

Script = Callable[[Any, str], Awaitable[None]]


async def _search_instead_of_browse(page: Any, shop: str) -> None:
    await page.goto(f"{shop}/index.html")
    await page.fill("#q", "cheapest science fiction")
    await page.click("#search-btn")
    await page.click("text=Dune")
    await page.go_back()
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    # A control the agent expected but that does not exist: the click times out, and the trace records the failure.
    with contextlib.suppress(PlaywrightTimeout):
        await page.click("#sort-by-price", timeout=800)


async def _broken_deals(page: Any, shop: str) -> None:
    await page.goto(f"{shop}/index.html")
    await page.click("text=Deals")
    await page.click("text=Last week's deal")  # a 404
    await page.go_back()


async def _browse_catalog(page: Any, shop: str) -> None:
    await page.goto(f"{shop}/index.html")
    await page.click("text=Catalog")
    await page.click("text=Cooking")
    await page.inner_text("#books")


async def _sign_in(page: Any, shop: str) -> None:
    await page.goto(f"{shop}/login.html")
    await page.fill("#email", "reader@example.org")
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("#signin")


# (task, script, outcome as a person watching the run would judge it)
PAST_RUNS: list[tuple[str, Script, str]] = [
    ("Find the cheapest science fiction book on Acme Books", _search_instead_of_browse, "failure"),
    ("Find today's best deal on Acme Books", _broken_deals, "failure"),
    ("Find the cheapest cooking book on Acme Books", _browse_catalog, "success"),
    ("Sign in to Acme Books", _sign_in, "success"),
]


@dataclass(frozen=True, kw_only=True)
class RecordedRun:
    task: str
    trace: Path
    outcome: str


async def record_past_runs(shop: str, out_dir: Path, *, executable_path: str, headless: bool = True) -> list[RecordedRun]:
    """Drive Debian chromium through the scripted past runs with Playwright, one trace.zip per run."""
    from playwright.async_api import async_playwright
    from webcoach.hooks.playwright import record_trace
    from webcoach.memory.files import private_dir

    private_dir(out_dir.parent)
    private_dir(out_dir)  # the traces hold what the runs typed (the demo's sign-in password)
    runs: list[RecordedRun] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable_path, headless=headless, args=["--no-sandbox"])
        try:
            for i, (task, script, outcome) in enumerate(PAST_RUNS, 1):
                path = out_dir / f"run-{i}.zip"
                context = await browser.new_context()
                async with record_trace(context, path):
                    page = await context.new_page()
                    await script(page, shop)
                await context.close()
                runs.append(RecordedRun(task=task, trace=path, outcome=outcome))
        finally:
            await browser.close()
    return runs


async def condense_runs(runs: list[RecordedRun]) -> list[Episode]:
    episodes = []
    for run in runs:
        episodes.append(
            await acondense(run.trace, task=run.task, outcome=run.outcome, outcome_by="human", vouched_by="human:demo")
        )
    return episodes


def anthropic_available() -> bool:
    return bool(os.environ.get("ANTHROPIC_API_KEY"))


@dataclass(kw_only=True)
class DemoReport:
    shop: str
    traces: list[RecordedRun]
    episodes: list[Episode]
    hits: list[Hit]
    advice: Advice | None
    agent: RunResult | None = None


async def run_demo(
    *,
    home: str | Path | None = None,
    headless: bool = True,
    browser: str | None = None,
    model: str | None = None,
    on_line: Callable[[str], None] = lambda line: None,
) -> DemoReport:
    """The whole demo; `model` (e.g. anthropic:claude-sonnet-4-5) adds a coached browser-use run on the new task."""
    from webcoach.coach.coach import Coach
    from webcoach.hooks.browser_session import find_chromium
    from webcoach.memory.store import EpisodeStore
    from webcoach.settings import resolve

    settings = resolve(home=home)
    executable = find_chromium(browser)
    with serve() as base, EpisodeStore(home=home, namespace=DEMO_NAMESPACE) as store:
        shop = f"{base}/shop"
        for old in store.list():  # the demo namespace is the demo's own: start it afresh
            store.forget(old.id)
        on_line(f"1/3 recording {len(PAST_RUNS)} real browser sessions (Playwright + {executable}) on the local shop {shop}/")
        runs = await record_past_runs(shop, settings.home / "demo" / "traces", executable_path=executable, headless=headless)
        on_line(f"2/3 condensing the traces into episodes and storing them in {store.location} (namespace '{DEMO_NAMESPACE}')")
        episodes = await condense_runs(runs)
        store.add_many(episodes)
        coach = Coach(store)
        start = f"{shop}/index.html"
        on_line(f"3/3 asking the coach about a new task: {NEW_TASK!r}")
        hits = await coach.retrieve(NEW_TASK, start)
        advice = await coach.advise(NEW_TASK, start, hits=hits)
        report = DemoReport(shop=shop, traces=runs, episodes=episodes, hits=hits, advice=advice)
        if model is not None:
            from webcoach.hooks.runner import RunOptions, run_task

            on_line(f"running a coached browser-use agent ({model}) on the new task")
            options = RunOptions(headless=headless, browser=executable, max_steps=15, history_dir=settings.runs_dir)
            report.agent = await run_task(NEW_TASK, llm=model, url=start, coach=coach, options=options)
    return report
