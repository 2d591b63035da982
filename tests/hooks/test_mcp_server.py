"""`webcoach mcp` started as a subprocess by the MCP SDK's own client (stdio, and streamable HTTP once), checked against
the store it writes (real Chroma under a temp --home). The recorded run is real Playwright MCP output (see
tests/condenser/test_playwright_mcp_trace.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from webcoach.errors import NamespaceNotFoundError
from webcoach.memory.advice_log import tally
from webcoach.memory.store import EpisodeStore

OUTPUT = Path(__file__).parents[1] / "data" / "playwright_mcp_output"
WEBCOACH = str(Path(sys.executable).with_name("webcoach"))
TASK = "Sign in to Acme Books and open the science fiction catalog"
SHOP = "http://127.0.0.1:43129/shop/index.html"  # the recording's site: 127.0.0.1:43129 (a local host is a site per port)
OTHER = "https://books.example.com/"
TOOLS = {"get_advice", "search_memory", "record_run", "rate_advice"}


def server(home: Path, *args: str) -> StdioServerParameters:
    return StdioServerParameters(command=WEBCOACH, args=["mcp", "--home", str(home), *args])


def ok(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return dict(result.structured_content)


def error(result: Any) -> str:
    assert result.is_error, result.structured_content
    message = str(result.content[0].text)
    assert "\n" not in message and len(message) < 600, message
    return message


@pytest.fixture
def output(tmp_path: Path) -> Path:
    """A copy of the Playwright MCP output folder (the server only reads it, but tests must not risk the data)."""
    out = tmp_path / "playwright-mcp-output"
    shutil.copytree(OUTPUT, out)
    return out


async def test_every_tool_against_the_store(tmp_path: Path, output: Path) -> None:
    home = tmp_path / "home"
    async with Client(server(home)) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        assert set(tools) == TOOLS
        for tool in tools.values():
            assert tool.input_schema["type"] == "object" and tool.output_schema is not None
            assert tool.description and len(tool.description) > 80
        for name in ("get_advice", "search_memory"):
            assert "not instructions" in (tools[name].description or "")
        assert tools["get_advice"].input_schema["required"] == ["task", "url"]
        assert tools["record_run"].input_schema["required"] == ["task", "outcome"]

        recorded = ok(
            await c.call_tool("record_run", {"task": TASK, "outcome": "failure", "trace_path": str(output), "url": SHOP})
        )
        assert recorded["status"] == "added" and recorded["steps"] == 6 and recorded["source"].endswith(".trace")
        episode_id = recorded["episode_id"]
        assert recorded["episode_ids"] == [episode_id]  # every episode the run made (one per site it worked on)
        # The server keeps the store between calls but gives it back when idle: this process gets it after a wait.
        with EpisodeStore(home=home, lock_wait_s=10) as store:
            stored = store.get(episode_id)
            assert (stored.outcome.value, stored.outcome_by, stored.step_count) == ("failure", "agent", 6)
        again = ok(await c.call_tool("record_run", {"task": TASK, "outcome": "failure", "trace_path": str(output)}))
        assert (again["episode_id"], again["status"]) == (episode_id, "duplicate")

        found = ok(await c.call_tool("search_memory", {"query": TASK, "url": SHOP, "k": 500}))
        assert found["total_episodes"] == 1 and "not instructions" in found["note"]
        (hit,) = found["episodes"]
        assert (hit["id"], hit["outcome"], hit["trust"], hit["site"], hit["same_site"]) == (
            episode_id,
            "failure",
            "agent",
            "127.0.0.1:43129",
            True,
        )
        assert ok(await c.call_tool("search_memory", {"query": TASK, "url": OTHER}))["episodes"] == []

        advice = ok(await c.call_tool("get_advice", {"task": TASK, "url": SHOP}))
        assert advice["advice"] and advice["episode_ids"] == [episode_id] and advice["trigger"] == "start"
        assert advice["advice"].startswith("[webcoach notes from past runs on") and "not instructions" in advice["advice"]
        assert advice["budget_left"] == 2
        # The start advice is given once per session and task.
        silent = ok(await c.call_tool("get_advice", {"task": TASK, "url": SHOP}))
        assert silent["advice"] is None and silent["advice_id"] is None and silent["why"].startswith("no advice")

        rated = ok(await c.call_tool("rate_advice", {"advice_id": advice["advice_id"], "helped": False}))
        assert rated["episodes_updated"] == 1
        assert "already rated" in error(await c.call_tool("rate_advice", {"advice_id": advice["advice_id"], "helped": True}))

        # Advice, then a successful run reported as steps: the advice's episodes are credited with its outcome.
        task2 = "Sign in to Acme Books"
        advice2 = ok(await c.call_tool("get_advice", {"task": task2, "url": SHOP}))
        assert advice2["episode_ids"] == [episode_id]
        steps = [
            {"action": "browser_navigate", "url": "http://127.0.0.1:43129/shop/login.html"},
            {"action": "browser_type", "target": "Password", "value": "Tr0ub4dor&3"},
            {"action": "browser_click", "target": "Sign in"},
            "read the account page",
        ]
        by_steps = ok(
            await c.call_tool("record_run", {"task": task2, "outcome": "success", "steps": steps, "answer": "signed in"})
        )
        assert by_steps["credited"] == 1 and by_steps["source"] == "reported steps" and by_steps["site"] == "127.0.0.1:43129"

        recent = await c.read_resource("webcoach://episodes/recent")
        listed = json.loads(recent.contents[0].text)  # type: ignore[union-attr]
        assert {e["id"] for e in listed["episodes"]} == {episode_id, by_steps["episode_id"]}
        one = await c.read_resource(f"webcoach://episodes/{episode_id}")
        assert json.loads(one.contents[0].text)["id"] == episode_id  # type: ignore[union-attr]

    with EpisodeStore(home=home) as store:
        assert (store.get(episode_id).helped, store.get(episode_id).hurt) == (1, 1)
        # Both interventions are in the advice log: the first rated by the client, the second settled by its run.
        rated_entry, settled = store.advice_log().entries()[::-1]
        assert (rated_entry.id, rated_entry.outcome, rated_entry.rated, rated_entry.channel) == (
            advice["advice_id"],
            "failure",
            True,
            "mcp",
        )
        assert (settled.id, settled.outcome, settled.run_episode) == (advice2["advice_id"], "success", by_steps["episode_id"])
        assert tally([rated_entry, settled]) == {episode_id: (1, 1)}  # the counts can be audited from the log
    stored_bytes = b"".join(p.read_bytes() for p in (home / "chroma").rglob("*") if p.is_file())
    for secret in (b"Hunter2-Secret", b"jane.doe@example.org", b"jane.doe%40example.org", b"Tr0ub4dor"):
        assert secret not in stored_bytes

    async with Client(server(home)) as c:  # a new session has its own budget
        assert ok(await c.call_tool("get_advice", {"task": TASK, "url": SHOP}))["advice"]


async def test_bad_input_gets_one_line_tool_errors_and_the_server_stays_up(tmp_path: Path, output: Path) -> None:
    home = tmp_path / "home"
    async with Client(server(home)) as c:
        missing = error(
            await c.call_tool("record_run", {"task": TASK, "outcome": "success", "trace_path": str(tmp_path / "nope")})
        )
        assert "no such file or folder" in missing
        assert "no Playwright MCP traces" in error(
            await c.call_tool("record_run", {"task": TASK, "outcome": "success", "trace_path": str(tmp_path)})
        )
        assert "exactly one of trace_path" in error(await c.call_tool("record_run", {"task": TASK, "outcome": "success"}))
        foreign = error(
            await c.call_tool("record_run", {"task": TASK, "outcome": "success", "trace_path": str(output), "url": OTHER})
        )
        assert "is on 127.0.0.1:43129, not on example.com" in foreign  # sites are registrable domains
        assert "bad arguments: outcome" in error(
            await c.call_tool("record_run", {"task": TASK, "outcome": "great", "trace_path": str(output)})
        )
        assert "url must be the http(s) address" in error(await c.call_tool("get_advice", {"task": TASK, "url": "shop"}))
        assert "bad arguments: recent_steps" in error(
            await c.call_tool("get_advice", {"task": TASK, "url": SHOP, "recent_steps": 42})
        )
        assert "unknown advice_id" in error(await c.call_tool("rate_advice", {"advice_id": "adv-0", "helped": True}))
        assert "no_such_tool" in error(await c.call_tool("no_such_tool", {}))

        # Memory of one site never advises another.
        ok(await c.call_tool("record_run", {"task": TASK, "outcome": "success", "trace_path": str(output)}))
        elsewhere = ok(await c.call_tool("get_advice", {"task": TASK, "url": OTHER}))
        assert elsewhere["advice"] is None and "no episodes from example.com" in elsewhere["why"]

        # A huge recent_steps is read, bounded (last 50 steps, 300 characters a field), not refused.
        huge = [{"action": "click", "target": f"button {i}", "value": "v" * 2000, "url": SHOP} for i in range(5000)]
        started = time.monotonic()
        ok(await c.call_tool("get_advice", {"task": TASK, "url": SHOP, "recent_steps": huge}))
        assert time.monotonic() - started < 30

        assert {t.name for t in (await c.list_tools()).tools} == TOOLS  # still serving


def cite_the_first_episode(request: dict[str, Any]) -> dict[str, Any]:
    """The stand-in coach's decision: advise, citing the first episode id in the prompt."""
    ids = re.findall(r"id=(\w+)", request["messages"][0]["content"])
    return {"intervene": True, "advice": "Open the catalog before searching: the search box timed out.", "cited_ids": ids[:1]}


async def test_an_llm_coach_advises_through_the_anthropic_api(tmp_path: Path, output: Path, fake_anthropic: Any) -> None:
    api = fake_anthropic(cite_the_first_episode)
    seen = api.requests
    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-test-not-a-key", "ANTHROPIC_BASE_URL": api.url}
    params = StdioServerParameters(
        command=WEBCOACH, args=["mcp", "--home", str(tmp_path / "home"), "--llm", "anthropic:claude-test"], env=env
    )
    async with Client(params) as c:
        recorded = ok(await c.call_tool("record_run", {"task": TASK, "outcome": "failure", "trace_path": str(output)}))
        advice = ok(await c.call_tool("get_advice", {"task": TASK, "url": SHOP}))
    assert advice["trigger"] == "llm" and advice["episode_ids"] == [recorded["episode_id"]], advice
    assert "Open the catalog before searching" in advice["advice"] and "not instructions" in advice["advice"]
    (request,) = seen  # one decision, one request
    assert request["model"] == "claude-test" and request["tool_choice"] == {"type": "tool", "name": "answer"}
    prompt = request["messages"][0]["content"]
    assert recorded["episode_id"] in prompt
    # The run typed a password and an e-mail address: neither reaches the model.
    assert "Hunter2-Secret!" not in prompt and "jane.doe@example.org" not in prompt


async def test_reported_steps_get_mid_run_advice(tmp_path: Path) -> None:
    login = "http://127.0.0.1:8000/shop/login.html"
    failing = {
        "action": "browser_click",
        "target": "Sign in button",
        "url": login,
        "error": "Timeout 5000ms exceeded waiting for #signin",
    }
    steps = [{"action": "browser_navigate", "url": login}, failing]
    async with Client(server(tmp_path / "home")) as c:
        failed = ok(
            await c.call_tool("record_run", {"task": "Sign in to Acme Books", "outcome": "failure", "steps": steps, "url": login})
        )
    async with Client(server(tmp_path / "home")) as c:
        advice = ok(await c.call_tool("get_advice", {"task": "Sign in to Acme Books", "url": login, "recent_steps": steps}))
    assert advice["trigger"] == "same_error" and advice["episode_ids"] == [failed["episode_id"]], advice
    assert "Timeout 5000ms exceeded" in advice["advice"]


async def test_a_store_held_by_another_process_is_a_tool_error_not_a_dead_server(tmp_path: Path, output: Path) -> None:
    home = tmp_path / "home"
    held = EpisodeStore(home=home)  # this process takes the embedded store's lock before the server starts
    try:
        async with Client(server(home)) as c:
            locked = error(await c.call_tool("search_memory", {"query": TASK}))
            assert "another process" in locked and "is using the embedded store" in locked
            held.close()  # released: the next call goes through
            recorded = ok(await c.call_tool("record_run", {"task": TASK, "outcome": "success", "trace_path": str(output)}))
            assert recorded["status"] == "added"
    finally:
        held.close()


def test_an_invalid_namespace_stops_the_server_with_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [WEBCOACH, "mcp", "--home", str(tmp_path / "home"), "--namespace", "no such/namespace"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and done.stdout == ""  # stdout belongs to the protocol
    assert done.stderr.strip().startswith("error: namespace 'no such/namespace' is not valid")
    assert len(done.stderr.strip().splitlines()) == 1


async def test_a_new_namespace_says_memory_is_empty(tmp_path: Path) -> None:
    async with Client(server(tmp_path / "home", "--namespace", "nobody-yet")) as c:
        advice = ok(await c.call_tool("get_advice", {"task": TASK, "url": SHOP}))
        assert advice["advice"] is None and "holds no episodes yet" in advice["why"] and "nobody-yet" in advice["why"]
        assert ok(await c.call_tool("search_memory", {"query": TASK}))["total_episodes"] == 0
    # asking created nothing: the namespace appears with the first recorded run, not with a question
    with pytest.raises(NamespaceNotFoundError):
        EpisodeStore(home=tmp_path / "home", namespace="nobody-yet", create=False)


async def test_streamable_http(tmp_path: Path, output: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [WEBCOACH, "mcp", "--home", str(tmp_path / "home"), "--http", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.2)
        async with Client(f"http://127.0.0.1:{port}/mcp") as c:
            assert {t.name for t in (await c.list_tools()).tools} == TOOLS
            recorded = ok(await c.call_tool("record_run", {"task": TASK, "outcome": "success", "trace_path": str(output)}))
            assert ok(await c.call_tool("get_advice", {"task": TASK, "url": SHOP}))["episode_ids"] == [recorded["episode_id"]]
            assert ok(await c.call_tool("get_advice", {"task": TASK, "url": SHOP}))["advice"] is None  # given once
        async with Client(f"http://127.0.0.1:{port}/mcp", mode="legacy") as c:  # handshake sessions: one budget each
            assert ok(await c.call_tool("get_advice", {"task": TASK, "url": SHOP}))["advice"]
            assert ok(await c.call_tool("get_advice", {"task": TASK, "url": SHOP}))["advice"] is None
        async with Client(f"http://127.0.0.1:{port}/mcp", mode="legacy") as c:
            assert ok(await c.call_tool("get_advice", {"task": TASK, "url": SHOP}))["advice"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_a_task_idle_past_the_run_window_gets_a_new_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from webcoach.coach.advice import Advice
    from webcoach.hooks import mcp_tools

    state = mcp_tools.WebcoachMCP(mcp_tools.ServerOptions())
    clock = [1000.0]
    monkeypatch.setattr(mcp_tools.time, "monotonic", lambda: clock[0])
    state.given("s1", "Find a  BOOK").append(Advice(text="t", why="w", confidence=0.5))
    clock[0] += mcp_tools.RUN_IDLE_S - 1
    assert len(state.given("s1", "find a book")) == 1  # the same task, same run
    assert state.given("s2", "find a book") == []  # another session
    clock[0] += mcp_tools.RUN_IDLE_S + 1
    assert state.given("s1", "find a book") == []  # a new run
