"""browser-use histories -> Trajectory, and the scripted model that drives a real browser-use Agent offline.

The fixtures in tests/data/ were written by the slow test below (a real Agent, Debian chromium, the local shop);
rerun it with WEBCOACH_WRITE_FIXTURES=1 to regenerate them. Screenshots are dropped and the shop's random port is
replaced by FIXTURE_BASE so the files are small and stable.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from webcoach.condenser.browser_use_history import parse_history
from webcoach.condenser.errors import ConfigError, InputError, ModelError
from webcoach.condenser.redact import MASK, Redactor
from webcoach.condenser.trajectory import ACTIONS, Trajectory
from webcoach.hooks.browser_session import find_chromium, make_browser_profile, offline_env
from webcoach.hooks.scripted import ScriptedLLM, find_element, page_elements

DATA = Path(__file__).parent / "data"
FIXTURE_BASE = "http://127.0.0.1:8765"
SHOP_PW = "Hunter2-Secret!"  # given to the agent as sensitive_data, typed as <secret>shop_pw</secret>
LITERAL_PW = "Swordfish-Literal-7"  # typed literally into the password field
EMAIL = "reader@example.com"


# --- the three scripted runs ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    task: str
    script: Callable[[str], list[Any]]  # base URL -> script
    sensitive_data: dict[str, str] | None = None
    judge: dict[str, Any] | None = None  # canned judge verdict; None runs without the judge
    max_steps: int = 12
    extra: dict[str, Any] = field(default_factory=dict)


FAILED = Scenario(
    name="failed_deals",
    task="Find this week's best deal at Acme Books and report its price.",
    script=lambda base: [
        [{"navigate": {"url": f"{base}/shop/index.html"}}],
        [{"input": {"target": "Title or author", "text": "deals"}}, {"send_keys": {"keys": "Enter"}}],
        [{"click": {"text": "Home"}}],
        [{"click": {"text": "Deals"}}],
        [{"click": {"index": 999}}],
        [{"click": {"text": "Last week's deal"}}],
        [{"go_back": {}}],
        [{"select_dropdown": {"target": "Home", "text": "This week"}}],
        {
            "action": [{"done": {"text": "The deals page never loads and last week's deal is a 404.", "success": False}}],
            "next_goal": "Give up: the deals page is broken.",
        },
    ],
    judge={
        "reasoning": "The agent found no deal: the deals page is broken.",
        "verdict": False,
        "failure_reason": "The deals page never loads its deals and the expired deal link returns 404.",
        "impossible_task": True,
    },
)

SCIFI = Scenario(
    name="cheapest_scifi",
    task="Find the cheapest science fiction book at Acme Books and tell me its title.",
    script=lambda base: [
        [{"navigate": {"url": f"{base}/shop/index.html"}}],
        [{"click": {"text": "Catalog"}}],
        [{"click": {"text": "Science fiction"}}],
        [{"extract": {"query": "titles and prices of the books"}}],
        [{"click": {"text": "Foundation"}}],
        [{"done": {"text": "Foundation", "success": True}}],
    ],
)

LOGIN = Scenario(
    name="login",
    task=f"Sign in to Acme Books as {EMAIL} with the password <secret>shop_pw</secret> and open your account page.",
    script=lambda base: [
        [{"navigate": {"url": f"{base}/shop/index.html"}}],
        [{"click": {"text": "Sign in"}}],
        [
            {"input": {"target": "email", "text": EMAIL}},
            {"input": {"target": "type=password", "text": "<secret>shop_pw</secret>"}},
            {"click": {"text": "Sign in"}},
        ],
        [{"navigate": {"url": f"{base}/shop/login.html"}}],
        [
            {"input": {"target": "email", "text": EMAIL}},
            {"input": {"target": "type=password", "text": LITERAL_PW}},
            {"click": {"text": "Sign in"}},
        ],
        [{"done": {"text": "Signed in; the account page shows no orders yet.", "success": True}}],
    ],
    sensitive_data={"shop_pw": SHOP_PW},
)

SCENARIOS = (FAILED, SCIFI, LOGIN)


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"browser_use_{name}.json").read_text(encoding="utf-8"))


def _write_fixture(history: Any, name: str, base: str) -> None:
    """Save as browser-use does, then make the file small and stable (no screenshots, a fixed port)."""
    path = DATA / f"browser_use_{name}.json"
    history.save_to_file(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    for item in data["history"]:
        item["state"]["screenshot_path"] = None
    text = json.dumps(data, indent=1, ensure_ascii=False).replace(base, FIXTURE_BASE)
    path.write_text(text + "\n", encoding="utf-8")


async def _run(scenario: Scenario, base: str, chromium: str, tmp_path: Path) -> tuple[Any, ScriptedLLM, float]:
    from browser_use import Agent

    llm = ScriptedLLM(scenario.script(base), structured={"JudgementResult": scenario.judge} if scenario.judge else None)
    profile = make_browser_profile(tmp_path / f"profile-{scenario.name}", executable_path=chromium)
    agent = Agent(
        task=scenario.task,
        llm=llm,
        browser_profile=profile,
        use_judge=scenario.judge is not None,
        sensitive_data=scenario.sensitive_data,  # type: ignore[arg-type]
    )
    started = time.perf_counter()
    history = await agent.run(max_steps=scenario.max_steps)
    return history, llm, time.perf_counter() - started


@pytest.fixture
def offline_browser_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in offline_env(tmp_path / "browser-use-config").items():
        monkeypatch.setenv(key, value)
    # browser-use puts its agent and download folders under the temp dir: keep them in this test's tmp_path.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))


@pytest.mark.slow
@pytest.mark.usefixtures("offline_browser_use")
async def test_real_agent_runs(site: str, chromium: str, tmp_path: Path) -> None:
    for scenario in SCENARIOS:
        history, llm, elapsed = await _run(scenario, site, chromium, tmp_path)
        print(f"{scenario.name}: {elapsed:.2f}s, {len(history.history)} steps")
        if os.environ.get("WEBCOACH_WRITE_FIXTURES") == "1":
            _write_fixture(history, scenario.name, site)
