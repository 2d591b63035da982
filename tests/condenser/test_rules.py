from __future__ import annotations

from pathlib import Path

import pytest
from webcoach.condenser.condense import condense
from webcoach.condenser.episode import Outcome
from webcoach.condenser.rules import condense_rules
from webcoach.condenser.sources import load_trajectory
from webcoach.condenser.trajectory import HttpFailure, Step, Trajectory

SHOP = "http://127.0.0.1:9/shop"
DATA = Path(__file__).parents[1] / "data"


def _traj(*steps: Step, **kw: object) -> Trajectory:
    return Trajectory(source_kind="browser-use-history", steps=steps, **kw)  # type: ignore[arg-type]


def test_failed_run_yields_failure_modes_and_lessons() -> None:
    traj = _traj(
        Step(index=0, action="goto", url=f"{SHOP}/index.html", target=f"{SHOP}/index.html"),
        Step(index=1, action="click", url=f"{SHOP}/search.html", target="#sort-by-price", error="Timeout 800ms exceeded."),
        Step(index=2, action="click", url=f"{SHOP}/search.html", target="#sort-by-price", error="Timeout 800ms exceeded."),
        Step(index=3, action="click", url=f"{SHOP}/search.html", target="#sort-by-price", error="Timeout 800ms exceeded."),
        Step(index=4, action="click", url=f"{SHOP}/search.html", target="Last week's deal"),
        Step(index=5, action="done", url=f"{SHOP}/expired-deal.html", result="Could not sort by price"),
        claimed_success=False,
        final_answer="Could not sort by price",
        http_failures=(HttpFailure(url=f"{SHOP}/expired-deal.html", status=404),),
    )
    ep = condense_rules(traj, "Find the cheapest science fiction book")
    assert ep.outcome is Outcome.FAILURE and ep.outcome_by == "agent"
    kinds = {f.kind for f in ep.failure_modes}
    assert {"timeout", "loop", "http_error", "gave_up"} <= kinds
    assert any("#sort-by-price" in lesson for lesson in ep.lessons)
    assert any("expired-deal.html" in lesson for lesson in ep.lessons)
    assert ep.step_count == 6 and ep.domain == "127.0.0.1:9"


def test_only_pages_the_run_was_on_and_on_its_own_site_can_be_broken() -> None:
    # A page can load any URL as an image or fetch it: that must not mark another site's pages (or its own
    # sub-resources) as broken pages in memory.
    traj = _traj(
        Step(index=0, action="goto", url=f"{SHOP}/index.html", target=f"{SHOP}/index.html"),
        Step(index=1, action="goto", url=f"{SHOP}/index.html", target="https://www.amazon.com/ap/signin", http_status=500),
        Step(index=2, action="back", url="https://www.amazon.com/ap/signin"),
        Step(index=3, action="done", url=f"{SHOP}/index.html", result="done"),
        claimed_success=False,
        http_failures=(
            HttpFailure(url="https://www.amazon.com/login.html", status=0),
            HttpFailure(url="https://www.amazon.com/account.html", status=403),
            HttpFailure(url=f"{SHOP}/img/missing.png", status=404),
        ),
    )
    ep = condense_rules(traj, "Find the cheapest science fiction book")
    assert ep.domain == "127.0.0.1:9" or ep.domain == "127.0.0.1"
    assert not [f for f in ep.failure_modes if f.kind == "http_error"]
    assert "amazon.com" not in " ".join(ep.lessons) and "missing.png" not in " ".join(ep.lessons)


def test_successful_run_records_the_route_and_answer() -> None:
    traj = _traj(
        Step(index=0, action="goto", url="about:blank", target=f"{SHOP}/index.html"),
        Step(index=1, action="click", url=f"{SHOP}/index.html", target="Catalog"),
        Step(index=2, action="click", url=f"{SHOP}/catalog.html", target="Science fiction"),
        Step(index=3, action="done", url=f"{SHOP}/catalog-scifi.html", result="Foundation, $7.25"),
        claimed_success=True,
        final_answer="Foundation, $7.25",
    )
    ep = condense_rules(traj, "Find the cheapest science fiction book")
    assert ep.outcome is Outcome.SUCCESS
    assert ep.what_worked[0].startswith("path: ") and "catalog-scifi.html" in ep.what_worked[0]
    assert ep.final_answer == "Foundation, $7.25"
    assert any("route worked" in lesson for lesson in ep.lessons)
    assert not ep.failure_modes


def test_verdict_precedence_human_over_judge_over_agent() -> None:
    base = {"claimed_success": True, "judge_success": False, "judge_reason": "wrong book"}
    traj = _traj(Step(index=0, action="done", url=f"{SHOP}/x.html"), **base)
    assert condense_rules(traj, "t").outcome is Outcome.FAILURE
    assert condense_rules(traj, "t").outcome_by == "judge"
    human = condense_rules(traj, "t", outcome="success")
    assert human.outcome is Outcome.SUCCESS and human.outcome_by == "human"


def test_same_log_same_id_different_task_different_id() -> None:
    traj = _traj(Step(index=0, action="goto", url=f"{SHOP}/index.html"))
    a, b, c = condense_rules(traj, "task one"), condense_rules(traj, "task one"), condense_rules(traj, "task two")
    assert a.id == b.id and a.content_hash == b.content_hash
    assert a.id != c.id


# Episode ids come from the fingerprint: re-ingesting an old log after an upgrade must find the episode it made then.
# These are the values webcoach has always given; a change here orphans every stored episode (and double-stores it).
PINNED = {
    "browser_use_cheapest_scifi.json": ("6cd27cac835d31f512b1096f37b8fc429f4f52acb9865ee658c9553181062ed2", "24e3a25054690ed4"),
    "browser_use_failed_deals.json": ("d8862c4d121f8963aa5ec72cef6327c03a8df398309ca88fc3dec1b5b0688b53", "baddedd0f010c017"),
    "browser_use_login.json": ("f49f004610089636c9b91f987b1a2aa9df086d66eca455b67a8bc356f44648fe", "37cad60fceebed48"),
    "playwright_mcp_output": ("d8a281721a5024ca1f2255cfb439aa4f4698c355af55d00897f4ac08a66d52c8", "42700ec03677fce3"),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_fingerprint_and_id_of_a_bundled_log_never_change(name: str) -> None:
    fingerprint, episode_id = PINNED[name]
    assert load_trajectory(DATA / name).fingerprint() == fingerprint
    episode = condense(DATA / name, task="t")
    assert episode.id == episode_id and episode.content_hash.startswith(episode_id)


def test_fingerprint_of_every_step_field_never_changes() -> None:
    # Every Step field set, non-ASCII text and floats included; what is not content (task, source, ...) is left out.
    traj = Trajectory(
        source_kind="playwright-trace",
        steps=(
            Step(
                index=0,
                action="goto",
                url="https://shop.example/",
                target="https://shop.example/",
                http_status=200,
                started_at=1700000000.25,
                duration_s=1.5,
            ),
            Step(
                index=1,
                action="fill",
                url="https://shop.example/login",
                target='[3] input "E-mail"',
                value="[REDACTED]",
                error="Timeout 800ms exceeded.",
                thought="sign in — first",
            ),
            Step(index=2, action="done", result="Café “Dune”, £7.99"),
        ),
        task="ignored by the fingerprint",
        start_url="https://shop.example/",
        final_answer="Café “Dune”, £7.99",
        console_errors=("ignored too",),
        http_failures=(HttpFailure(url="https://shop.example/x", status=404),),
        source="ignored.json",
    )
    assert traj.fingerprint() == "cc3ae1027ecc99fd3cd7fc53e6aa2da44e3d4cea6eccdd3f60c063a1c9deb701"


def test_a_broken_page_is_one_lesson_not_two() -> None:
    page = f"{SHOP}/expired-deal.html"
    traj = _traj(
        Step(index=0, action="goto", url=f"{SHOP}/deals.html", target=page, http_status=404),
        Step(index=1, action="back", url=page),
        http_failures=(HttpFailure(url=page, status=404),),
    )
    lessons = [lesson for lesson in condense_rules(traj, "t").lessons if "expired-deal.html" in lesson]
    assert lessons == ["Avoid 127.0.0.1:9/shop/expired-deal.html: it is a broken page (HTTP 404)."]


def test_two_logs_of_one_run_with_different_evidence_get_two_ids() -> None:
    # A trace.zip and its unzipped folder with an extra network file: the same steps, more evidence in one.
    steps = (
        Step(index=0, action="goto", url="about:blank", target=f"{SHOP}/deals.html"),
        Step(index=1, action="click", url=f"{SHOP}/deals.html", target="This week"),
    )
    bare = _traj(*steps)
    fuller = _traj(*steps, http_failures=(HttpFailure(url=f"{SHOP}/deals.json", status=500, document=False),))
    assert bare.fingerprint() == fuller.fingerprint()  # the steps are the same...
    assert condense_rules(bare, "t").id != condense_rules(fuller, "t").id  # ...the evidence is not
    assert condense_rules(fuller, "t").id == condense_rules(fuller, "t").id
