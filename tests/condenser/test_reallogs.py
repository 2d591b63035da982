"""The condenser on real logs no one here wrote (../shared/data/reallogs: 22 logs from public repositories, with
attribution and hand labels). Each log's sites, outcome and lessons are pinned; the files are read where they lie and
never copied into this repository. Skipped, saying why, where ../shared is absent."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from webcoach.condenser.condense import condense_all
from webcoach.errors import InputError

REALLOGS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "reallogs"
pytestmark = pytest.mark.skipif(not (REALLOGS / "labels.json").is_file(), reason=f"real logs not found at {REALLOGS}")

# Never a fact about any site: agent-framework, LLM and client-network errors.
NOT_SITE_FACTS = re.compile(
    r"Could not parse response|cannot schedule new futures|watchdog|NavigateToUrlEvent|ERR_INTERNET_DISCONNECTED"
    r"|Execution context was destroyed|more direct route|/sorry|RateLimitError",
    re.I,
)

# file: (sites of its episodes, main first; outcome; who said it; a substring one lesson holds, or None: no lesson)
PINNED: dict[str, tuple[list[str | None], str, str, str | None]] = {
    "bu_jakkaj_leaderboards.json": (["berkeley.edu"], "success", "agent", None),
    "bu_pentest_juiceshop.json": (["juice-shop.herokuapp.com"], "failure", "log", None),
    "bu_smartbrowser_v2.json": (["vscode.dev"], "failure", "agent", "On vscode.dev/, the agent gave up"),
    "bu_zzxwill_early_elonmusk.json": (["wikipedia.org", "google.com"], "success", "agent", None),
    "har_mitm_charles.har": (["mitmproxy.org"], "unknown", "none", None),
    "har_mitm_chrome.har": (["mitmproxy.org"], "unknown", "none", None),
    "har_mitm_flows_incomplete_log.har": ([None], "unknown", "none", None),
    "har_mitm_flows_successful_log.har": (["example.com"], "unknown", "none", None),
    "har_mitm_flows_websocket.har": ([None], "unknown", "none", None),
    "har_mitm_insomnia.har": (["mitm.it"], "unknown", "none", None),
    "har_mitm_safari.har": (["mitmproxy.org"], "unknown", "none", None),
    "har_mitm_with-bom.har": ([None], "unknown", "none", None),
    "har_mspw_fulfill.har": (["no.playwright"], "unknown", "none", None),
    "har_mspw_redirect.har": (["theverge.com"], "unknown", "none", None),
    "har_sitespeed_theverge.har": (["theverge.com"], "unknown", "none", None),
    "har_sitespeed_www-sitespeed-io.har": (["sitespeed.io"], "unknown", "none", None),
    "pw_mspw_remote-time-diff.zip": (["playwright.dev"], "success", "test", None),
    "pw_mspw_trace-1.31.zip": ([None], "unknown", "none", None),
    "pw_mspw_trace-library-1.46.zip": ([None], "unknown", "none", None),
}
REFUSED = {
    "har_mitm_brokenfile.har": "malformed JSON",
    "pw_mspw_trace-from-the-future.zip": "newer than this webcoach reads",
    "other_bu_simulator_allrecipes0/messages.json": "neither a browser-use history",
}


def _tasks() -> dict[str, str]:
    tasks = {}
    for line in (REALLOGS / "tasks.tsv").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, task = line.partition("\t")
            tasks[name.strip()] = task.strip()
    return tasks


@pytest.mark.parametrize("name", sorted(PINNED))
def test_real_log_site_outcome_and_lessons(name: str) -> None:
    sites, outcome, by, lesson = PINNED[name]
    episodes = condense_all(REALLOGS / "files" / name, task=_tasks().get(name) or None)
    assert [e.domain for e in episodes] == sites
    assert {e.outcome.value for e in episodes} == {outcome} and {e.outcome_by for e in episodes} == {by}
    lessons = [x for e in episodes for x in e.lessons]
    if lesson is None:
        assert not lessons
    else:
        assert any(lesson in x for x in lessons), lessons
    served = [
        *lessons,
        *(f"{f.kind}: {f.detail}" for e in episodes for f in e.failure_modes),
        *(w for e in episodes for w in e.what_worked),
    ]
    assert not [x for x in served if NOT_SITE_FACTS.search(x)]


def test_a_success_keeps_its_route_where_the_answer_was_read() -> None:
    (board,) = condense_all(REALLOGS / "files" / "bu_jakkaj_leaderboards.json", task=_tasks()["bu_jakkaj_leaderboards.json"])
    assert board.what_worked[0] == "path: gorilla.cs.berkeley.edu/leaderboard.html"  # not Google's CAPTCHA, not DuckDuckGo


def test_agent_and_network_errors_stay_in_the_record() -> None:
    (juice,) = condense_all(REALLOGS / "files" / "bu_pentest_juiceshop.json", task="Open OWASP Juice Shop")
    assert not juice.failure_modes and not juice.lessons
    assert {n.cause for n in juice.run_notes} >= {"agent"}
    (chrome,) = condense_all(REALLOGS / "files" / "har_mitm_chrome.har", task="Open mitmproxy.org")
    assert any(n.cause == "network" and "ERR_INTERNET_DISCONNECTED" in n.detail for n in chrome.run_notes)


def test_ad_frames_are_not_page_visits() -> None:
    (verge,) = condense_all(REALLOGS / "files" / "har_sitespeed_theverge.har", task="Load www.theverge.com")
    assert verge.key_steps == ["goto www.theverge.com/"]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_unreadable_logs_get_one_line(name: str) -> None:
    with pytest.raises(InputError) as caught:
        condense_all(REALLOGS / "files" / name, task="t")
    assert REFUSED[name] in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.slow
def test_grade_py_passes_on_the_shared_set() -> None:
    """The shared grader, as the issue runs it (every target: parse, crashes, site, outcome, false lessons, coverage,
    secrets)."""
    webcoach = Path(sys.executable).with_name("webcoach")
    done = subprocess.run(
        [sys.executable, str(REALLOGS / "grade.py"), "--webcoach", str(webcoach), "--jobs", "2", "--json", "/dev/null"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "PASS" in done.stdout.splitlines()[-1]
