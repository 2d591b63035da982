"""One browser-use agent run of one eval task: its own browser profile, the coach's hooks when the arm has a coach,
the MiniWoB reward probe when the judge needs it, and what the judge and the results file need kept afterwards.

Unlike hooks/runner.run_task (the `webcoach run` command), this one leaves storing the run to the eval (which labels
it with the judge's verdict first), turns off browser-use's Ctrl-C handler (a first Ctrl-C would only pause that one
agent: the eval wants the whole run to stop), copies the last screenshots out of the agent's temp folder and removes
that folder (a benchmark run would otherwise fill the disk with every step's screenshot).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webcoach.hooks.browser_session import make_browser_profile
from webcoach.hooks.runner import browser_llm, save_history
from webcoach.tasks.miniwob import Reward, RewardProbe

if TYPE_CHECKING:
    from webcoach.coach.advice import Advice
    from webcoach.coach.coach import Coach
    from webcoach.tasks.judge import Judge
    from webcoach.tasks.taskset import Task

StepHook = Callable[[Any], Awaitable[None]]


@dataclass(kw_only=True)
class AgentRun:
    history: Any
    seconds: float
    advice: list[Advice] = field(default_factory=list)
    reward: Reward | None = None
    screenshots: list[Path] = field(default_factory=list)
    history_path: Path | None = None


async def run_agent(
    task: Task,
    *,
    llm: Any,
    url: str,
    judge: Judge,
    run_dir: Path,
    coach: Coach | None = None,
    max_steps: int = 30,
    headless: bool = True,
    browser: str | None = None,
    keep_screenshots: int = 3,
    calculate_cost: bool = False,
) -> AgentRun:
    """Run the agent on `task` from `url`; history and the last `keep_screenshots` screenshots go to `run_dir`."""
    from browser_use import Agent
    from webcoach.hooks.browser_use import CoachingSession

    run_dir.mkdir(parents=True, exist_ok=True)
    probe = RewardProbe() if judge.needs_reward else None
    with tempfile.TemporaryDirectory(prefix="webcoach-eval-") as tmp:
        profile = make_browser_profile(Path(tmp) / "profile", headless=headless, executable_path=browser)
        agent = Agent(
            task=task.question,
            llm=browser_llm(llm),
            browser_profile=profile,
            initial_actions=[{"navigate": {"url": url, "new_tab": False}}],
            enable_signal_handler=False,
            calculate_cost=calculate_cost,
            **{"use_judge": False, **judge.agent_kwargs()},
        )
        session = CoachingSession(coach, agent) if coach is not None else None

        async def before(a: Any) -> None:
            if session is not None:
                await session.before_step(a)

        async def after(a: Any) -> None:
            if session is not None:
                await session.after_step(a)
            if probe is not None:
                await probe.after_step(a)

        started = time.monotonic()
        try:
            history = await agent.run(max_steps=max_steps, on_step_start=before, on_step_end=after)
            seconds = time.monotonic() - started
            if session is not None:
                await session.on_done(history)  # the eval's coach does not store: this only ends its retrieval
            screenshots = _keep_screenshots(history, run_dir, keep_screenshots)
        finally:
            shutil.rmtree(agent.agent_directory, ignore_errors=True)
    return AgentRun(
        history=history,
        seconds=seconds,
        advice=list(session.given) if session is not None else [],
        reward=probe.reward if probe is not None else None,
        screenshots=screenshots,
        history_path=save_history(history, task.question, run_dir),
    )


def _keep_screenshots(history: Any, run_dir: Path, keep: int) -> list[Path]:
    if keep <= 0:
        return []
    found = [(n, Path(p)) for n, p in enumerate(history.screenshot_paths(), start=1) if p]
    kept: list[Path] = []
    for step, source in found[-keep:]:
        if source.is_file():
            target = run_dir / f"step-{step:02d}{source.suffix or '.png'}"
            shutil.copyfile(source, target)
            kept.append(target)
    return kept
