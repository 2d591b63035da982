"""`webcoach demo` with ANTHROPIC_API_KEY set, the README's main job past its recordings: the same command then runs a
coached browser-use agent (Claude) on the new task and stores the run. Everything is real (the `webcoach` console
script in its own process, the anthropic SDK inside browser-use's ChatAnthropic, the browser-use Agent, Debian
chromium, embedded Chroma) except Claude: ANTHROPIC_BASE_URL points the SDK at a local stand-in for the Messages API
that answers each agent step by reading the browser state browser-use sent it, as a model would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from webcoach.hooks.browser_session import offline_env
from webcoach.memory.store import EpisodeStore
from webcoach.tasks.demo import DEMO_NAMESPACE, DEMO_PASSWORD, NEW_TASK, PAST_RUNS

WEBCOACH = str(Path(sys.executable).with_name("webcoach"))
NOTES = "[webcoach notes from past runs on 127.0.0.1:"  # a local site is its host and port
ANSWER = "The Guns of August ($10.75) is the cheapest history book."


def prompt_text(request: dict[str, Any]) -> str:
    """The text of the newest user message: browser-use puts the task, history, browser state and notes there."""
    content = request["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "\n".join(block.get("text", "") for block in content if block.get("type") == "text")


def current_url(state: str) -> str:
    tab = re.search(r"Current tab: (\w+)", state)
    found = re.search(rf"Tab {tab.group(1)}: (\S+)", state) if tab else None
    assert found is not None, state
    return found.group(1)


def link_index(state: str, text: str) -> int:
    """The index browser-use gave the link reading `text` (its state lists `[17]<a />` with the text on the next line)."""
    found = re.search(rf"\[(\d+)\]<a[^>]*/>\s*\n\s*{re.escape(text)}\s*\n", state)
    assert found is not None, f"no link {text!r} in the browser state:\n{state}"
    return int(found.group(1))


def step(goal: str, action: dict[str, Any]) -> dict[str, Any]:
    return {
        "thinking": goal,
        "evaluation_previous_goal": "Done as planned.",
        "memory": goal,
        "next_goal": goal,
        "action": [action],
    }


def claude(request: dict[str, Any]) -> dict[str, Any]:
    """One agent step, as Claude would take it: home -> Catalog -> History, then read the prices and finish."""
    state = prompt_text(request)
    page = current_url(state).rsplit("/", 1)[-1]
    if page == "index.html":
        return step("Open the catalog.", {"click": {"index": link_index(state, "Catalog")}})
    if page == "catalog.html":
        return step("Filter the catalog to history.", {"click": {"index": link_index(state, "History")}})
    if page == "catalog-history.html" and "The Guns of August" in state and "$10.75" in state:
        return step("Report the cheapest book.", {"done": {"text": ANSWER, "success": True}})
    return step("Give up.", {"done": {"text": f"Unexpected page {page}", "success": False}})


@pytest.mark.slow
def test_demo_runs_a_coached_claude_agent_and_stores_its_run(chromium: str, tmp_path: Path, fake_anthropic: Any) -> None:
    api = fake_anthropic(claude)
    home = Path(os.environ["WEBCOACH_HOME"])
    env = {
        **os.environ,
        **offline_env(tmp_path / "browser-use-config"),
        "TMPDIR": str(tmp_path),  # browser-use's agent folders and the browser profile
        "ANTHROPIC_API_KEY": "sk-ant-test-not-a-key",
        "ANTHROPIC_BASE_URL": api.url,
    }
    done = subprocess.run(
        [WEBCOACH, "demo", "--browser", chromium], env=env, capture_output=True, text=True, timeout=420, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    # The key alone turns the agent run on, with the README's default model; it acted and finished.
    assert "running a coached browser-use agent (anthropic:claude-sonnet-4-5)" in done.stderr
    assert f"Coached agent: success in 4 steps; answer: {ANSWER}" in done.stdout, done.stdout
    assert "Set ANTHROPIC_API_KEY" not in done.stdout

    # Every model call was browser-use's agent step (the coach and condenser stay rule-based), one per page it saw:
    # it really clicked through the shop in chromium, since each request shows the page the previous click opened.
    assert all(
        r["model"] == "claude-sonnet-4-5" and r["tool_choice"] == {"type": "tool", "name": "AgentOutput"} for r in api.requests
    )
    pages = [current_url(prompt_text(r)).rsplit("/", 1)[-1] for r in api.requests]
    assert pages == ["index.html", "catalog.html", "catalog-history.html"], pages
    # The coach's advice reached the agent's prompt before its first step, and the typed password reached no request.
    assert NOTES in prompt_text(api.requests[0]) and "[end of webcoach notes]" in prompt_text(api.requests[0])
    assert not any(DEMO_PASSWORD in raw for raw in api.raw)
    # Every piece of advice the output lists as given reached the model: the start notes, and nothing after them, since
    # the agent stayed on the route of the similar cooking search (not pulled to the sign-in page) and advice after
    # its last step would reach no model.
    assert re.findall(r"^  coach \((\w+)\):$", done.stdout, re.MULTILINE) == ["start"], done.stdout
    assert sum(prompt_text(r).count(NOTES) for r in api.requests) == 1

    # The run is stored in the demo namespace next to the 4 recorded ones, condensed from the browser-use history.
    with EpisodeStore(home=home, namespace=DEMO_NAMESPACE) as store:
        stored = store.list()
        exported = store.export(tmp_path / "demo.jsonl")
    assert exported == len(PAST_RUNS) + 1 == len(stored)
    (run,) = [e for e in stored if e.task == NEW_TASK]
    assert run.outcome.value == "success" and run.final_answer == ANSWER, run
    assert run.source_kind == "browser-use-history" and run.start_url is not None and run.start_url.endswith("/shop/index.html")
    assert "catalog-history.html" in json.dumps(run.model_dump(mode="json"))
    # The advice it was given is credited with the success.
    given = set(re.findall(r"from run (\w+)", prompt_text(api.requests[0])))
    assert given and all(e.helped == 1 for e in stored if e.id in given)
    # The redacted history of the run is kept for re-ingesting; nothing the user can read holds the demo's password.
    (history,) = (home / "runs").glob("*.json")
    for text in (history.read_text(), (tmp_path / "demo.jsonl").read_text(), done.stdout, done.stderr):
        assert DEMO_PASSWORD not in text
