"""What a problem in a log is, and which kinds may teach a site anything: the error taxonomy, hop pages, bot walls,
frames in HARs, outcomes from what the log says, and one lesson per distinct fact."""

from __future__ import annotations

from typing import Any

import pytest
from webcoach.condenser.har import parse_har
from webcoach.condenser.incidents import classify_error, is_hop
from webcoach.condenser.redact import Redactor
from webcoach.condenser.rules import condense_rules, condense_rules_all
from webcoach.condenser.trajectory import Step, Trajectory


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        (
            "Navigation failed: Event handler browser_use.browser.watchdog_base.BrowserSession.on_NavigateToUrlEvent timed out",
            "agent",
        ),
        ("('cannot schedule new futures after shutdown', 502)", "agent"),
        ("Could not parse response.", "agent"),
        ("Execution context was destroyed, most likely because of a navigation", "agent"),
        ("net::ERR_INTERNET_DISCONNECTED", "network"),
        ("page.goto: net::ERR_NAME_NOT_RESOLVED at https://x.test/", "network"),
        ("net::ERR_BLOCKED_BY_CLIENT", "blocked"),
        ("Please complete the CAPTCHA to continue", "bot_wall"),
        ('Timeout 300ms exceeded.\nwaiting for locator("#buy")', "page"),
        ("<div class=overlay> intercepts pointer events", "page"),
        ("Element index 7 not available - page may have changed.", "page"),
        ("something nobody has seen", "unknown"),
    ],
)
def test_error_taxonomy(text: str, cause: str) -> None:
    assert classify_error(text) == cause


def test_hops_never_make_a_site() -> None:
    assert is_hop("https://www.google.com/search?q=bfcl")
    assert is_hop("https://www.google.com/sorry/index?continue=x")
    assert is_hop("https://consent.google.com/ml?continue=x")
    assert is_hop("https://duckduckgo.com/?q=bfcl")
    assert is_hop("https://securepubads.g.doubleclick.net/gampad/ads?x=1")
    assert not is_hop("https://docs.google.com/document/d/1")  # Google's own products are sites
    assert not is_hop("https://gorilla.cs.berkeley.edu/leaderboard.html")
    # A task about the search engine itself makes its result pages the work; an interstitial never is.
    assert not is_hop("https://www.google.com/search?q=elon", "Search Google for elon musk")
    assert is_hop("https://www.google.com/sorry/index", "Search Google for elon musk")


def _bu(*steps: Step, **kw: Any) -> Trajectory:
    return Trajectory(source_kind="browser-use-history", steps=steps, **kw)


def test_the_site_is_where_the_agent_acted_and_answered_not_where_it_started() -> None:
    traj = _bu(
        Step(index=0, action="other", url=None, target="search_google", value="bfcl leaderboard"),
        Step(index=1, action="click", url="https://www.google.com/sorry/index?q=x", target="[3] div"),
        Step(index=2, action="goto", url="https://www.google.com/sorry/index", target="https://duckduckgo.com/?q=bfcl"),
        Step(
            index=3, action="click", url="https://duckduckgo.com/?q=bfcl", target="[5] a", error="Execution context was destroyed"
        ),
        Step(
            index=4,
            action="goto",
            url="https://duckduckgo.com/?q=bfcl",
            target="https://gorilla.cs.berkeley.edu/leaderboard.html",
        ),
        Step(index=5, action="extract", url="https://gorilla.cs.berkeley.edu/leaderboard.html", result="top 10"),
        Step(index=6, action="done", url="https://gorilla.cs.berkeley.edu/leaderboard.html", result="top 10"),
        claimed_success=True,
        final_answer="top 10",
        start_url="https://www.google.com/sorry/index?q=x",
    )
    (episode,) = condense_rules_all(traj, "Find the BFCL leaderboard")
    assert episode.domain == "berkeley.edu"
    assert episode.what_worked[0] == "path: gorilla.cs.berkeley.edu/leaderboard.html"
    assert not [x for x in [*episode.lessons, *episode.what_worked] if "google" in x or "duckduckgo" in x]
    assert any(n.cause == "agent" for n in episode.run_notes)


def test_two_sites_worked_on_give_two_parts_each_with_its_own_problems() -> None:
    a, b = "https://shop-a.test", "https://shop-b.test"
    traj = _bu(
        Step(index=0, action="goto", url=None, target=f"{a}/p/1"),
        Step(
            index=1, action="click", url=f"{a}/p/1", target="#price", error="Timeout 500ms exceeded waiting for locator('#price')"
        ),
        Step(index=2, action="goto", url=f"{a}/p/1", target=f"{b}/item/9", http_status=404),
        Step(index=3, action="goto", url=f"{b}/item/9", target=f"{b}/search?q=x"),
        Step(index=4, action="extract", url=f"{b}/search?q=x", result="$10"),
        Step(index=5, action="done", url=f"{b}/search?q=x", result="B is cheaper"),
        claimed_success=True,
        final_answer="B is cheaper",
    )
    main, other = condense_rules_all(traj, "Compare the price on shop A and shop B")
    assert (main.domain, other.domain) == ("shop-b.test", "shop-a.test")
    assert main.related == [other.id] and other.related == [main.id] and main.id != other.id
    assert any("shop-b.test/item/9" in x for x in main.lessons) and not any("shop-a" in x for x in main.lessons)
    assert any("#price" in x for x in other.lessons) and not any("shop-b" in x for x in other.lessons)


def test_outcome_from_the_done_text_of_an_early_history_and_a_step_limit_is_not_giving_up() -> None:
    page = "https://vscode.dev/"
    gave_up = _bu(
        Step(index=0, action="click", url=page, target='[34] "Open Folder"'),
        Step(index=1, action="done", url=page, result="I am unable to complete the task."),
        claimed_success=False,
    )
    episode = condense_rules(gave_up, "Open the Learning folder")
    assert (episode.outcome.value, episode.outcome_by) == ("failure", "agent")
    assert [f.kind for f in episode.failure_modes] == ["gave_up"]
    assert episode.lessons[0].startswith('On vscode.dev/, the agent gave up after click [34] "Open Folder"')

    limit = _bu(
        *(Step(index=i, action="scroll", url=page) for i in range(5)),
        Step(index=5, action="done", url=page, result="Failed to finish within max steps."),
        claimed_success=False,
    )
    kinds = [f.kind for f in condense_rules(limit, "t").failure_modes]
    assert "step_limit" in kinds and "gave_up" not in kinds

    aborted = _bu(Step(index=0, action="goto", url=None, target=page, error="cannot schedule new futures after shutdown"))
    episode = condense_rules(aborted, "t")
    assert (episode.outcome.value, episode.outcome_by) == ("failure", "log")
    assert not episode.failure_modes and not episode.lessons  # nothing about the site


def test_repeats_are_one_lesson_with_a_count() -> None:
    page = "https://shop.test/cart"
    steps = [
        Step(index=i, action="click", url=page, target=f"#pay{i % 2}", error="Timeout 800ms exceeded waiting for locator")
        for i in range(4)
    ]
    episode = condense_rules(_bu(*steps, claimed_success=False), "Pay")
    pay0 = [x for x in episode.lessons if "#pay0" in x]
    assert len(pay0) == 1 and "(seen 2 times)" in pay0[0]


def _entry(
    url: str, status: int, *, dest: str | None = None, headers: list[dict[str, str]] | None = None, **kw: Any
) -> dict[str, Any]:
    request_headers = [{"name": "Sec-Fetch-Dest", "value": dest}] if dest else []
    return {
        "pageref": "page_1",
        "startedDateTime": kw.pop("at", "2026-01-01T00:00:00.000Z"),
        "time": 10,
        "request": {"method": "GET", "url": url, "headers": request_headers},
        "response": {"status": status, "headers": headers or [], "content": {"mimeType": "text/html"}},
        **kw,
    }


def test_har_frames_are_not_visits_and_a_bot_wall_is_not_a_broken_page() -> None:
    har = {
        "log": {
            "pages": [{"id": "page_1", "title": "Publications"}],
            "entries": [
                _entry("https://www.example-lab.test/en/publications.html", 403, dest="document",
                       headers=[{"name": "cf-mitigated", "value": "challenge"}], at="2026-01-01T00:00:00.000Z"),
                _entry("https://ads.adnxs.com/frame.html", 404, dest="iframe", at="2026-01-01T00:00:01.000Z"),
                _entry("https://widgets.other.test/w.html", 404, at="2026-01-01T00:00:02.000Z",
                       _initiator={"type": "parser", "url": "https://www.example-lab.test/"}),
            ],
        }
    }  # fmt: skip
    traj = parse_har(har, Redactor())
    assert [s.target for s in traj.steps] == ["https://www.example-lab.test/en/publications.html"]
    episode = condense_rules(traj, "List the lab's publications")
    assert episode.domain == "example-lab.test"
    assert [f.kind for f in episode.failure_modes] == ["bot_wall"]
    (lesson,) = episode.lessons
    assert "bot check" in lesson and "person" in lesson
    assert "broken" not in lesson.replace("not broken", "") and "Avoid" not in lesson
