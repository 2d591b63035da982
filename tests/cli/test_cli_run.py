"""`webcoach run`: a real browser-use Agent on Debian chromium and the local shop, driven by the test-only model
'scripted:SCRIPT.json', invoked through the CLI (CliRunner) with WEBCOACH_HOME in tmp."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.memory.store import EpisodeStore

runner = CliRunner()

PASSWORD = "Pa55word!Secret"  # typed literally into the shop's password field by the first script
SCIFI_TASK = "Find the cheapest science fiction book on Acme Books"
HISTORY_TASK = "Find the cheapest history book on Acme Books"
STEP_LINE = re.compile(r"^step +(\d+) (.*)$", re.MULTILINE)


@pytest.fixture(autouse=True)
def _offline(offline_browser_use: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBCOACH_EMBEDDER", "hashing")  # the same embedder whatever model files this machine has


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "webcoach-home"  # WEBCOACH_HOME, set by the autouse fixture in conftest.py


def script(tmp_path: Path, name: str, steps: list[Any]) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(steps), encoding="utf-8")
    return f"scripted:{path}"


def failing_steps(shop: str) -> list[Any]:
    """Run 1 (after the initial navigation to the shop): a click on a "sort by price" control that does not exist, then
    a detour through the login form with a password typed in."""
    return [
        [{"click": {"index": 999}}],
        [{"navigate": {"url": f"{shop}/login.html"}}],
        [
            {"input": {"target": "email", "text": "reader@example.com"}},
            {"input": {"target": "type=password", "text": PASSWORD}},
            {"click": {"text": "Sign in"}},
        ],
        [{"done": {"text": "Search cannot sort by price", "success": False}}],
    ]


def history_steps(shop: str) -> list[Any]:
    return [
        [{"click": {"text": "Catalog"}}],
        [{"click": {"index": 999}}],  # run 1's mistake again
        [{"navigate": {"url": f"{shop}/catalog-history.html"}}],
        [{"done": {"text": "The Guns of August", "success": True}}],
    ]


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["run", *args])
    return result.exit_code, result.stdout, result.stderr


def stored(home: Path) -> int:
    with EpisodeStore(home=home) as store:
        return store.count()


def saved_runs(home: Path) -> list[Path]:
    return sorted((home / "runs").glob("*.json")) if (home / "runs").exists() else []


def test_run_shows_every_step_and_the_answer_and_saves_a_redacted_history(site: str, tmp_path: Path, home: Path) -> None:
    shop = f"{site}/shop"
    code, out, err = run(SCIFI_TASK, "--url", f"{shop}/index.html", "--model", script(tmp_path, "s1", failing_steps(shop)))

    assert code == 0, err
    steps = STEP_LINE.findall(out)
    assert [int(n) for n, _ in steps] == [1, 2, 3, 4, 5]  # the initial navigation included
    assert steps[0][1].startswith("goto ") and "index.html" in steps[0][1]
    assert "failed" in steps[1][1] and "999" in steps[1][1]
    assert steps[2][1].startswith("goto ") and "login.html" in steps[2][1]
    assert steps[3][1].count("fill ") == 2 and "click" in steps[3][1]
    assert steps[4][1].startswith("done: Search cannot sort by price")
    assert "failure after 5 steps" in out and "0 coach interventions" in out
    assert "Answer: Search cannot sort by price" in out
    assert "coach (" not in out  # nothing in memory yet

    (history,) = saved_runs(home)
    assert f"history: {history}" in out
    saved = history.read_text(encoding="utf-8")
    assert json.loads(saved)["task"] == SCIFI_TASK and len(json.loads(saved)["history"]) == 5
    for leaked in (PASSWORD, quote_plus(PASSWORD)):  # typed, and in the GET form's URL
        assert leaked not in saved and leaked not in out
    assert "account.html" in saved  # the sign-in really happened

    episode_id = re.search(r"stored as episode (\w+) \(failure, by agent\)", out)
    assert episode_id is not None and stored(home) == 1


@pytest.mark.slow
def test_the_next_run_is_coached_json_parses_and_no_coach_stores_nothing(site: str, tmp_path: Path, home: Path) -> None:
    shop = f"{site}/shop"
    url = f"{shop}/index.html"
    code, out, err = run(SCIFI_TASK, "--url", url, "--model", script(tmp_path, "s1", failing_steps(shop)), "--json")
    assert code == 0, err
    first = json.loads(out)  # stdout holds the JSON and nothing else
    assert first["success"] is False and first["steps"] == 5 and first["advice"] == []
    assert first["final_answer"] == "Search cannot sort by price" and Path(first["history"]).exists()
    run1 = first["episode"]
    assert isinstance(run1, str) and stored(home) == 1

    code, out, err = run(HISTORY_TASK, "--url", url, "--model", script(tmp_path, "s2", history_steps(shop)))
    assert code == 0, err
    lines = out.splitlines()
    coach_lines = [i for i, line in enumerate(lines) if line.startswith("coach (")]
    assert [lines[i].split(",")[0] for i in coach_lines] == ["coach (start", "coach (same_error"]
    assert all(f"cites {run1}" in lines[i] for i in coach_lines)
    step_at = {int(m.group(1)): i for i, line in enumerate(lines) if (m := STEP_LINE.match(line))}
    assert step_at[1] < coach_lines[0] < step_at[2]  # start advice: after the initial navigation, before the first LLM step
    assert step_at[3] < coach_lines[1] < step_at[4]  # shown right after the step that repeated run 1's mistake
    assert "2 coach interventions" in out and "Answer: The Guns of August" in out
    assert stored(home) == 2

    code, out, err = run(
        HISTORY_TASK, "--url", url, "--model", script(tmp_path, "s3", history_steps(shop)), "--no-coach", "--json"
    )
    assert code == 0, err
    plain = json.loads(out)
    assert plain["advice"] == [] and plain["episode"] is None and plain["final_answer"] == "The Guns of August"
    assert stored(home) == 2  # --no-coach: memory untouched
    assert len(saved_runs(home)) == 3  # but the history is still saved


def test_bad_model_spec_missing_script_and_missing_browser_are_one_line_errors(
    site: str, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    malformed = tmp_path / "malformed.json"
    malformed.write_text('[[{"click": ', encoding="utf-8")
    url = f"{site}/shop/index.html"
    cases = [
        (["--model", "nope:gpt-9"], "unknown model 'nope:gpt-9'"),
        (["--model", "openai:gpt-4.1"], "Set the OPENAI_API_KEY environment variable"),
        (["--model", f"scripted:{tmp_path / 'missing.json'}"], "missing.json: no such script file"),
        (["--model", f"scripted:{malformed}"], "malformed JSON at line 1"),
        (
            ["--model", script(tmp_path, "ok", []), "--browser", "/nonexistent"],
            "'/nonexistent' (from --browser) is not an executable",
        ),
    ]
    for args, message in cases:
        code, out, err = run(SCIFI_TASK, "--url", url, *args)
        assert code == 1, (args, out, err)
        assert err.startswith("error: ") and message in err, err
        assert err.count("\n") == 1, err  # one line
        assert out == ""
    assert saved_runs(home) == [] and stored(home) == 0
