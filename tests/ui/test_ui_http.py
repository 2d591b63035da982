"""`webcoach ui` over HTTP (Starlette's test client, no browser): the token, the cookie that replaces it, the CSRF
check on every write, the Host check, escaping and the security headers. The browser tests are test_ui_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from webcoach.condenser.episode import Episode
from webcoach.condenser.rules import condense_rules
from webcoach.condenser.trajectory import Step, Trajectory
from webcoach.memory.store import EpisodeStore
from webcoach.ui.app import COOKIE, UIOptions, make_app

SCRIPT = "<script>document.title='pwned'</script>"


def _episode(task: str, lesson: str | None = None) -> Episode:
    shop = "https://books.example.com/shop"
    traj = Trajectory(
        source_kind="browser-use-history",
        steps=(
            Step(index=0, action="goto", url="about:blank", target=f"{shop}/index.html"),
            Step(index=1, action="click", url=f"{shop}/index.html", target="Catalog"),
            Step(index=2, action="done", url=f"{shop}/catalog.html", result="Foundation, $7.25"),
        ),
        claimed_success=True,
        final_answer="Foundation, $7.25",
    )
    ep = condense_rules(traj, task)
    return ep.model_copy(update={"lessons": [lesson]}) if lesson else ep


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Path, Episode]:
    home = tmp_path / "home"
    ep = _episode("Find the cheapest science fiction book", lesson=f"Prices {SCRIPT} are on the catalog page")
    with EpisodeStore(home=home, embedder="hashing") as store:
        store.add(ep)
    return home, ep


def _client(home: Path) -> tuple[TestClient, UIOptions]:
    options = UIOptions(home=home, port=8755)
    return TestClient(make_app(options), base_url="http://127.0.0.1:8755", follow_redirects=False), options


def test_every_request_needs_the_token_then_the_cookie(seeded: tuple[Path, Episode]) -> None:
    home, ep = seeded
    client, options = _client(home)
    refused = client.get("/")
    assert refused.status_code == 403 and "token" in refused.text
    assert client.get("/?token=wrong").status_code == 403
    first = client.get(f"/episodes?token={options.token}&outcome=success")
    assert first.status_code == 303 and first.headers["location"] == "/episodes?outcome=success"  # the token leaves the URL
    assert "httponly" in first.headers["set-cookie"].lower() and "samesite=strict" in first.headers["set-cookie"].lower()
    page = client.get("/episodes")
    assert page.status_code == 200 and ep.id in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # no script may run at all
    assert "default-src 'none'" in page.headers["content-security-policy"]
    # A page that rebinds its own name to 127.0.0.1 sends its own Host: refused even with the cookie.
    assert client.get("/", headers={"host": "evil.example:8755"}).status_code == 403


def test_writes_need_the_csrf_token_and_the_same_origin(seeded: tuple[Path, Episode]) -> None:
    home, ep = seeded
    client, options = _client(home)
    client.cookies.set(COOKIE, options.token)
    assert client.post(f"/episodes/{ep.id}/pin", data={}).status_code == 403
    assert client.post(f"/episodes/{ep.id}/pin", data={"csrf": "guess"}).status_code == 403
    cross = client.post(f"/episodes/{ep.id}/pin", data={"csrf": options.csrf}, headers={"origin": "https://evil.example"})
    assert cross.status_code == 403
    with EpisodeStore(home=home) as store:
        assert not store.get(ep.id).pinned
    done = client.post(f"/episodes/{ep.id}/pin", data={"csrf": options.csrf})
    assert done.status_code == 303
    with EpisodeStore(home=home) as store:
        assert store.get(ep.id).pinned


def test_page_text_is_escaped_and_every_view_renders(seeded: tuple[Path, Episode]) -> None:
    home, ep = seeded
    client, options = _client(home)
    client.cookies.set(COOKIE, options.token)
    shown = client.get(f"/episodes/{ep.id}").text
    assert SCRIPT not in shown and "&lt;script&gt;" in shown
    assert f'name="csrf" value="{options.csrf}"' in shown
    for path in (
        "/",
        "/episodes?site=books.example.com&trust=agent",
        "/advice",
        "/ask?task=cheapest+book&url=https://books.example.com/",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert "<script" not in response.text.lower()
        assert not re.search(r"(src|href)=\"https?://", response.text)  # no external asset
    assert (
        "[webcoach notes from past runs on example.com]"
        in client.get("/ask?task=cheapest+science+fiction+book&url=https://books.example.com/").text
    )
    assert client.get("/episodes?since=yesterday").status_code == 400


def test_an_empty_home_says_how_to_add_episodes(tmp_path: Path) -> None:
    client, options = _client(tmp_path / "nothing")
    client.cookies.set(COOKIE, options.token)
    assert "Nothing stored yet" in client.get("/").text


def test_the_command_prints_one_line_with_its_url_and_serves_it(seeded: tuple[Path, Episode]) -> None:
    import subprocess
    import sys
    import time

    import httpx

    home, _ = seeded
    webcoach = str(Path(sys.executable).with_name("webcoach"))
    proc = subprocess.Popen(
        [webcoach, "ui", "--home", str(home), "--port", "0", "--no-open"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        match = re.fullmatch(r"webcoach ui: (http://127\.0\.0\.1:(\d+)/\?token=\S+)", line)
        assert match, line
        for _ in range(100):  # uvicorn listens a moment after the line is printed
            try:
                with httpx.Client(follow_redirects=True) as http:
                    page = http.get(match.group(1))
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert page.status_code == 200 and "example.com" in page.text
        assert httpx.get(f"http://127.0.0.1:{match.group(2)}/episodes").status_code == 403
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_episode_page_shows_the_runs_record_escaped(tmp_path: Path) -> None:
    # What the log showed that is no fact about the site (third-party console text here) is for a person to see.
    from webcoach.condenser.episode import RunNote

    home = tmp_path / "home"
    note = RunNote(cause="third_party", detail=f"console: {SCRIPT} from an ad frame", url="https://ads.example/x.js")
    ep = _episode("Find the cheapest fantasy book").model_copy(update={"run_notes": [note], "related": ["abc123"]})
    with EpisodeStore(home=home, embedder="hashing") as store:
        store.add(ep)
    client, options = _client(home)
    client.cookies.set(COOKIE, options.token)
    shown = client.get(f"/episodes/{ep.id}").text
    assert "The run&#39;s record" in shown or "The run's record" in shown
    assert "third_party" in shown and SCRIPT not in shown and "from an ad frame" in shown
    assert 'href="/episodes/abc123"' in shown
