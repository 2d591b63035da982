"""MiniWoB++ rewards cannot be forged by the agent under test: real browser-use agents (scripted LLMs) on the real
MiniWoB++ pages try the known attacks, and the harness scores each one a failure."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from webcoach.hooks.scripted import ScriptedLLM, prompt_text
from webcoach.tasks.evaluate import EvalConfig, evaluate
from webcoach.tasks.miniwob import build_site, miniwob_tasks
from webcoach.tasks.results import TaskResult
from webcoach.tasks.taskset import Task

pytestmark = pytest.mark.slow


def _agent(steps: list[Any]) -> Any:
    def make(task: Task) -> ScriptedLLM:
        def script(messages: list[Any], step: int) -> Any:
            if step >= len(steps):
                return [{"done": {"text": "done", "success": True}}]
            action = steps[step]
            return action(prompt_text(messages)) if callable(action) else action

        return ScriptedLLM(script)

    return make


async def _run(tmp_path: Path, chromium: str, steps: list[Any], task: str = "click-button", **kw: Any) -> TaskResult:
    config = EvalConfig(
        out_dir=tmp_path / "run",
        model=_agent(steps),
        judge="reward",
        arms=("baseline",),
        browser=chromium,
        max_steps=4,
        site=build_site(tmp_path / "site"),
        **kw,
    )
    run = await evaluate(miniwob_tasks([task], episodes=1, seed=3), config)
    (row,) = run.results
    assert row.error is None, row.error
    return row


FORGE_END = {"evaluate": {"code": "(function(){ core.endEpisode(1.0, true); return 'ok'; })()"}}
FORGE_GLOBAL = {
    "evaluate": {
        "code": "(function(){ window.WEBCOACH_MINIWOB = {done: true, reward: 1, raw_reward: 1, task: 'click-button', seed: '3'}; return 'ok'; })()"
    }
}


async def test_script_actions_are_off_for_miniwob_so_end_episode_cannot_be_called(tmp_path: Path, chromium: str) -> None:
    row = await _run(tmp_path, chromium, [[FORGE_END]])
    assert row.success is False and row.reward is None and row.verdict is False


async def test_the_same_attack_works_when_scripts_are_allowed(tmp_path: Path, chromium: str) -> None:
    # The control: with --allow-scripts the agent can end the episode itself, which is why scripts are off by default.
    row = await _run(tmp_path, chromium, [[FORGE_END]], allow_scripts=True)
    assert row.success is True and row.reward is not None and row.reward > 0.9


async def test_the_reward_global_cannot_be_written_even_with_scripts(tmp_path: Path, chromium: str) -> None:
    row = await _run(tmp_path, chromium, [[FORGE_GLOBAL]], allow_scripts=True)
    assert row.success is False and row.reward is None and row.verdict is False


def _other_page(prompt: str) -> list[dict[str, Any]]:
    base = re.search(r"http://127\.0\.0\.1:\d+", prompt)
    assert base is not None, "the agent sees the page URL"
    return [{"navigate": {"url": f"{base.group(0)}/miniwob/click-test-2.html?seed=3&episode_ms=600000"}}]


async def test_solving_another_tasks_page_earns_nothing(tmp_path: Path, chromium: str) -> None:
    row = await _run(tmp_path, chromium, [_other_page, [{"click": {"text": "ONE"}}]])
    assert row.success is False and row.reward is None
    assert "not the task's page click-button seed 3" in row.judge_reason


async def test_another_seed_of_the_same_task_earns_nothing(tmp_path: Path, chromium: str) -> None:
    def other_seed(prompt: str) -> list[dict[str, Any]]:
        base = re.search(r"http://127\.0\.0\.1:\d+", prompt)
        assert base is not None
        return [{"navigate": {"url": f"{base.group(0)}/miniwob/click-test-2.html?seed=4&episode_ms=600000"}}]

    row = await _run(tmp_path, chromium, [other_seed, [{"click": {"text": "ONE"}}]], task="click-test-2")
    assert row.success is False and "seed 4, not the task's page click-test-2 seed 3" in row.judge_reason


async def test_a_javascript_url_cannot_end_the_episode(tmp_path: Path, chromium: str) -> None:
    row = await _run(tmp_path, chromium, [[{"navigate": {"url": "javascript:core.endEpisode(1.0, true)"}}]])
    assert row.success is False and row.reward is None


async def test_an_honest_agent_still_gets_its_reward(tmp_path: Path, chromium: str) -> None:
    row = await _run(tmp_path, chromium, [[{"click": {"text": "ONE"}}]], task="click-test-2")
    assert row.success is True and row.reward is not None and 0.9 < row.reward <= 1.0
