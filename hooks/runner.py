"""Run one browser-use agent on a task, coached or not: what `webcoach run`, the demo and eval runs call.

Model specs are 'PROVIDER:MODEL' for browser-use's own chat classes (anthropic:claude-sonnet-4-5, openai:gpt-4.1,
google:gemini-2.5-flash, ...), or 'scripted:PATH.json', a ScriptedLLM script for offline runs and tests.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webcoach.condenser.browser_use_history import parse_history
from webcoach.condenser.redact import Redactor
from webcoach.condenser.sources import sensitive_values
from webcoach.condenser.trajectory import Step
from webcoach.errors import ConfigError, InputError
from webcoach.hooks.browser_session import make_browser_profile

if TYPE_CHECKING:
    from webcoach.coach.advice import Advice
    from webcoach.coach.coach import Coach
    from webcoach.condenser.episode import Episode

# prefix -> (browser_use attribute, environment variable holding its key, or None)
PROVIDERS: dict[str, tuple[str, str | None]] = {
    "anthropic": ("ChatAnthropic", "ANTHROPIC_API_KEY"),
    "openai": ("ChatOpenAI", "OPENAI_API_KEY"),
    "google": ("ChatGoogle", "GOOGLE_API_KEY"),
    "groq": ("ChatGroq", "GROQ_API_KEY"),
    "mistral": ("ChatMistral", "MISTRAL_API_KEY"),
    "deepseek": ("ChatDeepSeek", "DEEPSEEK_API_KEY"),
    "openrouter": ("ChatOpenRouter", "OPENROUTER_API_KEY"),
    "azure": ("ChatAzureOpenAI", "AZURE_OPENAI_API_KEY"),
    "ollama": ("ChatOllama", None),
}


@dataclass(frozen=True, kw_only=True)
class StepEvent:
    """One finished agent step, for a live progress line."""

    number: int
    url: str | None
    actions: tuple[Step, ...]
    seconds: float


@dataclass(kw_only=True)
class RunResult:
    task: str
    final_answer: str | None
    success: bool | None  # the judge's verdict when there was one, else the agent's own claim
    steps: int
    seconds: float
    history_path: Path | None
    advice: list[Advice] = field(default_factory=list)
    episode: Episode | None = None
    history: Any = None


def browser_llm(spec: str | Any, **kwargs: Any) -> Any:
    """A browser-use chat model from 'PROVIDER:MODEL' (or any object already implementing browser-use's protocol)."""
    import os

    if not isinstance(spec, str):
        return spec
    provider, _, model = spec.partition(":")
    if provider == "scripted":
        return scripted_llm(Path(model))
    if provider not in PROVIDERS or not model:
        known = ", ".join(f"{p}:MODEL" for p in PROVIDERS)
        raise ConfigError(f"unknown model {spec!r}: use one of {known}, or scripted:SCRIPT.json")
    attr, key = PROVIDERS[provider]
    if key and not os.environ.get(key):
        raise ConfigError(f"Set the {key} environment variable to use {spec}")
    import browser_use

    return getattr(browser_use, attr)(model=model, **kwargs)


def scripted_llm(path: Path) -> Any:
    """A ScriptedLLM from a JSON file: a list of steps, or {"steps": [...], "structured": {...}}."""
    from webcoach.hooks.scripted import ScriptedLLM

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such script file") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    steps = data.get("steps") if isinstance(data, dict) else data
    if not isinstance(steps, list):
        raise InputError(f"{path}: a script is a JSON list of steps (or {{'steps': [...]}})")
    structured = data.get("structured") if isinstance(data, dict) else None
    return ScriptedLLM(steps, structured=structured)


def slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit] or "run"


async def run_task(
    task: str,
    *,
    llm: Any,
    url: str | None = None,
    coach: Coach | None = None,
    max_steps: int = 30,
    headless: bool = True,
    browser: str | None = None,
    use_judge: bool = False,
    judge_llm: Any = None,
    sensitive_data: dict[str, Any] | None = None,
    history_dir: Path | None = None,
    profile_dir: Path | None = None,
    on_step: Callable[[StepEvent], None] | None = None,
    on_advice: Callable[[Advice], None] | None = None,
) -> RunResult:
    """Run a browser-use Agent on `task` (starting at `url`), coached by `coach` when given; the coached run is
    condensed and stored. The history is saved, redacted, under `history_dir`."""
    from browser_use import Agent
    from webcoach.hooks.browser_use import CoachingSession

    chat = browser_llm(llm)
    with tempfile.TemporaryDirectory(prefix="webcoach-profile-", dir=profile_dir) as tmp:
        profile = make_browser_profile(Path(tmp) / "profile", headless=headless, executable_path=browser)
        agent_kwargs: dict[str, Any] = {"use_judge": use_judge}
        if judge_llm is not None:
            agent_kwargs["judge_llm"] = browser_llm(judge_llm)
        if url:
            agent_kwargs["initial_actions"] = [{"navigate": {"url": url, "new_tab": False}}]
        agent = Agent(task=task, llm=chat, browser_profile=profile, sensitive_data=sensitive_data, **agent_kwargs)
        session = CoachingSession(coach, agent, on_advice=on_advice) if coach is not None else None
        started = time.monotonic()
        step_started = [started]
        shown = [0]  # history items already reported

        def report(a: Any) -> None:
            # Every history item once, in order: the initial navigation is recorded as an item before the first step.
            items = a.history.history
            while on_step is not None and shown[0] < len(items):
                shown[0] += 1
                _report_step(items[shown[0] - 1], shown[0], sensitive_data, step_started[0], on_step)

        async def before(a: Any) -> None:
            report(a)
            step_started[0] = time.monotonic()
            if session is not None:
                await session.before_step(a)

        async def after(a: Any) -> None:
            report(a)  # before the coach speaks, so a step's line precedes the advice it triggered
            if session is not None:
                await session.after_step(a)

        if session is not None:
            session.warm_up()  # retrieval overlaps the browser's start
        history = await agent.run(max_steps=max_steps, on_step_start=before, on_step_end=after)
        seconds = time.monotonic() - started
    episode = await session.on_done(history) if session is not None else None
    saved = save_history(history, task, history_dir, sensitive_data) if history_dir is not None else None
    judged = history.judgement() if use_judge else None
    success = judged.get("verdict") if isinstance(judged, dict) else history.is_successful()
    return RunResult(
        task=task,
        final_answer=history.final_result(),
        success=success,
        steps=history.number_of_steps(),
        seconds=seconds,
        history_path=saved,
        advice=list(session.given) if session is not None else [],
        episode=episode,
        history=history,
    )


def _report_step(
    item: Any, number: int, sensitive_data: dict[str, Any] | None, started: float, on_step: Callable[[StepEvent], None]
) -> None:
    try:
        traj = parse_history({"history": [item.model_dump()]}, Redactor(sensitive_values(sensitive_data)))
    except InputError:
        return
    on_step(
        StepEvent(
            number=number,
            url=traj.steps[0].url if traj.steps else None,
            actions=traj.steps,
            seconds=time.monotonic() - started,
        )
    )


def save_history(history: Any, task: str, directory: Path, sensitive_data: dict[str, Any] | None = None) -> Path:
    """Write the run's history as browser-use's JSON, with typed secrets masked (it can be re-ingested later)."""
    redactor = Redactor(sensitive_values(sensitive_data))
    parse_history(history, redactor)  # learns the values typed into password fields
    data = redactor.data(history.model_dump())
    assert isinstance(data, dict)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{slug(task)}.json"
    path.write_text(json.dumps({**data, "task": task}, indent=1, default=str), encoding="utf-8")
    return path
