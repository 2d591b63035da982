"""Real Playwright MCP (`@playwright/mcp`, node) driven through the MCP SDK's client on the bundled shop with
--save-trace; the run is recorded through `webcoach mcp`'s record_run, and a second session's get_advice cites it.

Needs node and the package installed where .ci/run puts it (`npm install --prefix .ci/node @playwright/mcp@0.0.68`),
or WEBCOACH_PLAYWRIGHT_MCP naming its `playwright-mcp` executable; skipped, saying why, otherwise. 0.0.68 is the last
release with --save-trace (later ones trace through `--caps=devtools` and browser_start_tracing, into the same folder
layout)."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Hunter2-Secret!"
EMAIL = "jane.doe@example.org"
TASK = "Find the science fiction books on Acme Books"

pytestmark = pytest.mark.slow


def playwright_mcp() -> str | None:
    found = os.environ.get("WEBCOACH_PLAYWRIGHT_MCP") or str(ROOT / ".ci" / "node" / "node_modules" / ".bin" / "playwright-mcp")
    return found if Path(found).is_file() and shutil.which("node") else None


def ref(snapshot: str, role: str, name: str) -> str:
    """The aria ref Playwright MCP gave the element `role "name"` in a page snapshot."""
    m = re.search(rf'{role} "{re.escape(name)}"[^\n]*?\[ref=(e\d+)\]', snapshot)
    assert m, f'no {role} "{name}" in the snapshot:\n{snapshot[:2000]}'
    return m.group(1)


def text(result: Any) -> str:
    assert not result.is_error, result.content[0].text
    return "\n".join(c.text for c in result.content if getattr(c, "text", None))


async def drive_shop(server: str, chromium: str, site: str, out: Path) -> None:
    """A short session: sign in on the shop (typing a password), then catalog -> science fiction."""
    args = ["--headless", "--isolated", "--no-sandbox", "--executable-path", chromium, "--save-trace", "--output-dir", str(out)]
    params = StdioServerParameters(command=server, args=args, cwd=str(out))
    async with Client(params) as browser:
        page = text(await browser.call_tool("browser_navigate", {"url": f"{site}/shop/login.html"}))
        await browser.call_tool("browser_type", {"element": "Email", "ref": ref(page, "textbox", "Email"), "text": EMAIL})
        await browser.call_tool(
            "browser_type", {"element": "Password", "ref": ref(page, "textbox", "Password"), "text": PASSWORD}
        )
        text(await browser.call_tool("browser_click", {"element": "Sign in", "ref": ref(page, "button", "Sign in")}))
        page = text(await browser.call_tool("browser_navigate", {"url": f"{site}/shop/catalog.html"}))
        page = text(
            await browser.call_tool("browser_click", {"element": "Science fiction", "ref": ref(page, "link", "Science fiction")})
        )
        assert "catalog-scifi.html" in page
        text(await browser.call_tool("browser_close", {}))  # stops the trace


def webcoach(home: Path) -> StdioServerParameters:
    return StdioServerParameters(command=str(Path(sys.executable).with_name("webcoach")), args=["mcp", "--home", str(home)])


async def test_playwright_mcp_session_is_recorded_and_cited(tmp_path: Path, site: str, chromium: str) -> None:
    server = playwright_mcp()
    if server is None:
        pytest.skip("Playwright MCP is not installed: npm install --prefix .ci/node @playwright/mcp@0.0.68 (needs node)")
    out = tmp_path / "playwright-mcp-output"
    out.mkdir()
    home = tmp_path / "home"
    shop = f"{site}/shop/index.html"

    async with Client(webcoach(home)) as coach:
        first = (await coach.call_tool("get_advice", {"task": TASK, "url": shop})).structured_content
        assert first is not None and first["advice"] is None  # empty memory
        await drive_shop(server, chromium, site, out)
        assert list((out / "traces").glob("trace-*.trace")), sorted(p.name for p in out.rglob("*"))
        recorded = await coach.call_tool(
            "record_run",
            {"task": TASK, "outcome": "success", "trace_path": str(out), "url": shop, "answer": "Dune, Neuromancer, Foundation"},
        )
        assert not recorded.is_error, getattr(recorded.content[0], "text", "")
        episode = recorded.structured_content
        assert episode is not None and episode["status"] == "added" and episode["steps"] >= 5, episode
        assert episode["source"].endswith(".trace")

    async with Client(webcoach(home)) as coach:  # a new session: a new budget, the same memory
        advice = (await coach.call_tool("get_advice", {"task": TASK, "url": shop})).structured_content
    assert advice is not None and advice["advice"], advice
    assert episode["episode_id"] in advice["episode_ids"]
    assert "not instructions" in advice["advice"]

    stored = b"".join(p.read_bytes() for p in (home / "chroma").rglob("*") if p.is_file())
    for secret in (PASSWORD, EMAIL):
        assert secret.encode() not in stored
        assert secret.encode("unicode_escape") not in stored
    raw = b"".join(p.read_bytes() for p in (out / "traces").glob("trace-*.trace"))
    assert PASSWORD.encode() in raw  # the trace itself holds it: redaction, not luck, kept it out of memory
