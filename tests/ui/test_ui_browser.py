"""`webcoach ui` end to end in real Chromium driven by Playwright: browse the sites, filter episodes, open one, pin,
ban, edit and forget from its buttons, ask the coach, read the advice log; a request without the token is refused and
a lesson holding `<script>` is shown as text. Each view is screenshotted (into $WEBCOACH_UI_SHOTS when set, for a
person to look at; else tmp_path)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from webcoach.condenser.episode import Episode, FailureMode
from webcoach.condenser.rules import condense_rules
from webcoach.condenser.trajectory import Step, Trajectory
from webcoach.memory.advice_log import AdviceEntry
from webcoach.memory.store import EpisodeStore
from webcoach.ui.app import UIOptions, make_app
from webcoach.ui.serve import free_port

pytestmark = pytest.mark.slow

SCRIPT = "<script>document.title='pwned'</script>"


def _episode(
    host: str, task: str, *, ok: bool, days: int, extra: list[FailureMode] | None = None, lesson: str | None = None
) -> Episode:
    base = f"https://{host}"
    steps = [
        Step(index=0, action="goto", url="about:blank", target=f"{base}/index.html"),
        Step(index=1, action="click", url=f"{base}/index.html", target="Catalog"),
    ]
    if not ok:
        steps.append(Step(index=2, action="click", url=f"{base}/catalog.html", target="Next page", error="element not found"))
    steps.append(Step(index=len(steps), action="done", url=f"{base}/catalog.html", result="Foundation, $7.25" if ok else None))
    traj = Trajectory(
        source_kind="browser-use-history",
        steps=tuple(steps),
        claimed_success=ok,
        final_answer="Foundation, $7.25" if ok else None,
    )
    ep = condense_rules(traj, task)
    update: dict[str, object] = {"created_at": datetime.now(UTC) - timedelta(days=days)}
    if extra:
        update["failure_modes"] = [*ep.failure_modes, *extra]
    if lesson:
        update["lessons"] = [lesson, *ep.lessons]
    return ep.model_copy(update=update)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[UIOptions, dict[str, Episode]]]:
    home = tmp_path / "home"
    eps = {
        "scifi": _episode("books.example.com", "Find the cheapest science fiction book on Acme Books", ok=True, days=1),
        "history": _episode(
            "books.example.com",
            "Find the cheapest history book on Acme Books",
            ok=False,
            days=9,
            extra=[FailureMode(kind="dead_end", detail="page not found", url="https://books.example.com/deals/expired.html")],
            lesson=f"Prices {SCRIPT} sit on the catalog page",
        ),
        "news": _episode(
            "news.example.org",
            "Read today's headline on Example News",
            ok=False,
            days=20,
            extra=[FailureMode(kind="http_error", detail="403 Just a moment... (bot check)", url="https://news.example.org/")],
        ),
        "old": _episode("books.example.com", "List the travel books on Acme Books", ok=True, days=40),
    }
    for n in range(55):  # enough for a second page
        eps[f"bulk{n}"] = _episode("shop.example.net", f"Buy item number {n} in the example shop", ok=n % 3 != 0, days=n % 70)
    with EpisodeStore(home=home, embedder="hashing") as store:
        store.add_many(list(eps.values()))
        log = store.advice_log()
        log.record(
            AdviceEntry(
                run="run-a",
                channel="browser-use",
                task="Find the cheapest fantasy book",
                site="example.com",
                trigger="start",
                episode_ids=[eps["history"].id],
                text="Past runs of this site saw these problems.",
            )
        )
        log.record(
            AdviceEntry(
                run="run-b",
                channel="mcp",
                task="Find a cookbook",
                site="example.com",
                trigger="dead_end",
                step=3,
                episode_ids=[eps["scifi"].id, eps["history"].id],
            )
        )
        log.settle(run="run-a", outcome="success")  # fmt: skip
    options = UIOptions(home=home, port=free_port("127.0.0.1"))
    server = uvicorn.Server(uvicorn.Config(make_app(options), host="127.0.0.1", port=options.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the UI server did not start"
        time.sleep(0.05)
    try:
        yield options, eps
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_ui_in_a_real_browser(served: tuple[UIOptions, dict[str, Episode]], chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    options, eps = served
    shots = Path(os.environ.get("WEBCOACH_UI_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{options.port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()

        # Without the token: refused.
        refused = page.goto(f"{base}/episodes")
        assert refused is not None and refused.status == 403
        assert "open the URL that `webcoach ui` printed" in page.inner_text("body")

        # The printed URL: in, and the token leaves the address bar.
        page.goto(options.url)
        assert page.url == f"{base}/" and "token" not in page.url
        assert page.locator("h1").inner_text() == "Sites"
        rows = page.locator("table tr")
        assert rows.nth(1).inner_text().startswith("example.net")  # sites are registrable domains, the most episodes first
        assert "expired.html" in page.locator("tr", has_text="example.com").inner_text()  # its dead end
        assert "news.example.org/" in page.locator("tr", has_text="example.org").inner_text()  # its bot wall
        page.screenshot(path=str(shots / "sites.png"), full_page=True)

        # Episodes: paged, then filtered.
        page.click("header >> text=Episodes")
        assert page.locator("table tr").count() == 51  # header + 50
        page.click("text=older →")
        assert "looked through 59 of 59" in page.inner_text(".pager") and page.locator("table tr").count() == 10
        page.goto(f"{base}/episodes")
        page.fill("input[name=site]", "books.example.com")
        page.select_option("select[name=outcome]", "failure")
        page.click("button:has-text('Filter')")
        listed = page.locator("table tr")
        assert listed.count() == 2 and eps["history"].id in listed.nth(1).inner_text()
        page.screenshot(path=str(shots / "episodes.png"), full_page=True)

        # One episode: the <script> lesson is text, nothing ran.
        page.click(f"text={eps['history'].id}")
        assert page.locator("h1").inner_text().startswith(f"Episode {eps['history'].id}")
        assert SCRIPT in page.locator("ul.lessons").inner_text()
        assert page.title() != "pwned"
        assert "run-a" in page.inner_text("body") and "success" in page.locator("tr", has_text="run-a").inner_text()
        page.screenshot(path=str(shots / "episode.png"), full_page=True)

        page.click("button:has-text('Pin')")
        assert "pinned" in page.locator("h1 .tag").inner_text()
        page.click("button:has-text('Ban')")
        assert page.locator("h1 .tag").inner_text() == "banned"
        assert "never shown to an agent" in page.inner_text("body")
        page.click("button:has-text('Unban')")
        page.click("button:has-text('Edit')")
        page.fill("textarea[name=lessons]", "The history shelf is under Catalog > Non-fiction")
        page.click("button:has-text('Save revision')")
        assert "A person's revision of" in page.inner_text("body")
        assert page.locator("h1 .tag").inner_text() == "human"
        assert page.locator("ul.lessons").inner_text() == "The history shelf is under Catalog > Non-fiction"
        revision_url = page.url
        page.goto(f"{base}/episodes/{eps['history'].id}")
        assert page.locator("h1 .tag").inner_text() == "banned"  # the original, kept
        page.goto(revision_url)

        # Forget, after a confirmation.
        page.goto(f"{base}/episodes/{eps['old'].id}")
        page.click("button:has-text('Forget')")
        page.click("button:has-text('Forget it')")
        assert page.url == f"{base}/episodes"
        assert eps["old"].id not in page.inner_text("body")

        # Ask the coach.
        page.click("header >> text=Ask the coach")
        page.fill("input[name=task]", "Find the cheapest science fiction book on Acme Books")
        page.fill("input[name=url]", "https://books.example.com/")
        page.click("button:has-text('Ask')")
        assert page.locator("pre.advice").inner_text().startswith("[webcoach notes from past runs on example.com]")
        assert eps["scifi"].id in page.locator("table").inner_text()
        page.screenshot(path=str(shots / "ask.png"), full_page=True)

        # The advice log.
        page.click("header >> text=Advice log")
        assert page.locator("table tr").count() == 3
        assert "not ended" in page.locator("tr", has_text="run-b").inner_text()
        page.screenshot(path=str(shots / "advice.png"), full_page=True)
        browser.close()
