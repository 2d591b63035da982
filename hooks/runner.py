"""The one agent-run path: a browser-use agent on one task, coached or not, used by `webcoach run`, the demo and eval.

Options cover what the callers differ in: extra after-step hooks (the eval's MiniWoB reward probe), copying the last
screenshots out of browser-use's temp folder (which is always removed: a benchmark would otherwise fill the disk with
every step's screenshot), turning off browser-use's Ctrl-C pause (a first Ctrl-C would only pause that one agent; an
eval wants the whole run to stop), actions to disable, and a `label` callback that says how the run went (a judge's
verdict) before the coach condenses and stores it: CoachingSession.on_done is the one place runs are stored.

Model specs are 'PROVIDER:MODEL' for browser-use's own chat classes (anthropic:claude-sonnet-4-5, openai:gpt-4.1, ...),
an OpenAI-compatible server ('openai:NAME' with base_url, or vllm:/sglang:/ollama: with their usual local URLs), or
'scripted:PATH.json', a ScriptedLLM script for offline runs and tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webcoach.condenser.browser_use_history import parse_history
from webcoach.condenser.redact import Redactor
from webcoach.condenser.sources import sensitive_values
from webcoach.condenser.trajectory import Step
from webcoach.errors import ConfigError, InputError
from webcoach.hooks.browser_session import make_browser_profile, offline_env
from webcoach.memory.files import private_dir, write_private
from webcoach.providers import OPENAI_COMPATIBLE

if TYPE_CHECKING:
    from webcoach.coach.advice import Advice
    from webcoach.coach.coach import Coach
    from webcoach.condenser.episode import Episode
    from webcoach.hooks.browser_use import Label

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
StepHook = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class StepEvent:
    """One finished agent step, for a live progress line."""

    number: int
    url: str | None
    actions: tuple[Step, ...]
    seconds: float


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How to run the agent; every caller's defaults are these except where it says otherwise."""

    max_steps: int = 30
    headless: bool = True
    browser: str | None = None
    agent_kwargs: dict[str, Any] = field(default_factory=dict)  # extra Agent(...) arguments, e.g. use_judge, judge_llm
    sensitive_data: dict[str, Any] | None = None
    history_dir: Path | None = None  # the redacted history is saved here
    screenshots: int = 0  # copy the last N screenshots into history_dir
    signal_handler: bool = True  # browser-use's Ctrl-C pause (off in the eval: Ctrl-C stops the whole run there)
    exclude_actions: tuple[str, ...] = ()  # e.g. ("evaluate",): no page scripts from the agent (MiniWoB rewards)
    calculate_cost: bool = False  # let browser-use price tokens (it fetches a price list)
    profile_dir: Path | None = None  # parent folder of the temp browser profile (default: the system temp dir)


@dataclass(kw_only=True)
class RunResult:
    task: str
    final_answer: str | None
    success: bool | None  # the label's verdict when there was one, else the agent's own claim
    steps: int
    seconds: float
    history_path: Path | None
    advice: list[Advice] = field(default_factory=list)
    episode: Episode | None = None
    history: Any = None
    screenshots: list[Path] = field(default_factory=list)
    label: Label | None = None
    excluded: list[str] = field(default_factory=list)  # episode ids kept from the coach (see CoachingSession.exclude)


def browser_llm(
    spec: str | Any, *, base_url: str | None = None, seed: int | None = None, temperature: float | None = None, **kwargs: Any
) -> Any:
    """A browser-use chat model from 'PROVIDER:MODEL' (or any object already implementing browser-use's protocol).
    OpenAI-compatible servers always decode at temperature 0; a hosted provider gets `temperature` and `seed` where
    its class takes them (the eval passes 0 and its seed; otherwise browser-use's defaults stand)."""
    if not isinstance(spec, str):
        return spec
    provider, _, model = spec.partition(":")
    if provider == "scripted":
        return scripted_llm(Path(model))
    if provider in ("vllm", "sglang") or (base_url and provider in ("openai", "ollama")):
        # An OpenAI-compatible server (how the WebCoach paper served its open models): deterministic decoding.
        from browser_use import ChatOpenAI

        if not model:
            raise ConfigError(f"model {spec!r} names no model: use {provider}:MODEL_NAME")
        default_url, key_var = OPENAI_COMPATIBLE[provider]
        api_key = os.environ.get(key_var) or "EMPTY"  # local servers take any key; the client insists on one
        return ChatOpenAI(model=model, base_url=base_url or default_url, api_key=api_key, temperature=0.0, seed=seed, **kwargs)
    if provider not in PROVIDERS or not model:
        known = ", ".join(f"{p}:MODEL" for p in [*PROVIDERS, "vllm", "sglang"])
        raise ConfigError(f"unknown model {spec!r}: use one of {known}, or scripted:SCRIPT.json")
    attr, key = PROVIDERS[provider]
    if key and not os.environ.get(key):
        raise ConfigError(f"Set the {key} environment variable to use {spec}")
    import dataclasses

    import browser_use

    chat = getattr(browser_use, attr)
    takes = {f.name for f in dataclasses.fields(chat)} if dataclasses.is_dataclass(chat) else set()
    if provider == "anthropic":
        if temperature is not None:  # in the request body: the SDK's create() takes no temperature (no seed either)
            from webcoach.hooks.browser_use import tempered_anthropic

            return tempered_anthropic(model, temperature, **kwargs)
        takes = set()
    decoding = {"temperature": temperature, "seed": seed}
    return chat(model=model, **{k: v for k, v in decoding.items() if v is not None and k in takes}, **kwargs)


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


def quiet_browser_use() -> None:
    """browser-use's telemetry, version check and cloud calls off for this process, unless the user set them."""
    for key, value in offline_env().items():
        os.environ.setdefault(key, value)


async def run_task(
    task: str,
    *,
    llm: Any,
    url: str | None = None,
    coach: Coach | None = None,
    options: RunOptions | None = None,
    after_step: Sequence[StepHook] = (),
    label: Callable[[RunResult], Awaitable[Label | None]] | None = None,
    exclude: Callable[[Episode], bool] | None = None,
    condenser_llm: object | None = None,
    episode_path: Path | None = None,
    on_step: Callable[[StepEvent], None] | None = None,
    on_advice: Callable[[Advice], None] | None = None,
    task_id: str | None = None,
) -> RunResult:
    """Run a browser-use Agent on `task` from `url`, coached by `coach` when given. When the agent stops, the browser
    closes, the last screenshots are copied, `label(result)` may give the run's verdict (e.g. a judge's), and the coach
    condenses and stores the run labelled with it (`episode_path` keeps a JSON copy of the episode first; `task_id`, a
    benchmark task's id, is kept with it)."""
    quiet_browser_use()
    from browser_use import Agent
    from webcoach.hooks.browser_use import CoachingSession

    opts = options or RunOptions()
    chat = browser_llm(llm)
    with tempfile.TemporaryDirectory(prefix="webcoach-profile-", dir=opts.profile_dir) as tmp:
        profile = make_browser_profile(Path(tmp) / "profile", headless=opts.headless, executable_path=opts.browser)
        agent_kwargs: dict[str, Any] = {"use_judge": False, **opts.agent_kwargs}
        if url:
            agent_kwargs["initial_actions"] = [{"navigate": {"url": url, "new_tab": False}}]
        if opts.exclude_actions:
            from browser_use import Tools

            agent_kwargs["tools"] = Tools(exclude_actions=list(opts.exclude_actions))
        agent = Agent(
            task=task,
            llm=chat,
            browser_profile=profile,
            sensitive_data=opts.sensitive_data,
            enable_signal_handler=opts.signal_handler,
            calculate_cost=opts.calculate_cost,
            **agent_kwargs,
        )
        session = (
            CoachingSession(coach, agent, on_advice=on_advice, exclude=exclude, task_id=task_id) if coach is not None else None
        )
        started = time.monotonic()
        step_started = [started]
        shown = [0]  # history items already reported

        def report(a: Any) -> None:
            # Every history item once, in order: the initial navigation is recorded as an item before the first step.
            items = a.history.history
            while on_step is not None and shown[0] < len(items):
                shown[0] += 1
                _report_step(items[shown[0] - 1], shown[0], opts.sensitive_data, step_started[0], on_step)

        async def before(a: Any) -> None:
            report(a)
            step_started[0] = time.monotonic()
            if session is not None:
                await session.before_step(a)

        async def after(a: Any) -> None:
            report(a)  # before the coach speaks, so a step's line precedes the advice it triggered
            if session is not None:
                await session.after_step(a)
            for hook in after_step:
                await hook(a)

        if session is not None:
            session.warm_up()  # retrieval overlaps the browser's start
        try:
            history = await agent.run(max_steps=opts.max_steps, on_step_start=before, on_step_end=after)
            seconds = time.monotonic() - started
            shots = keep_screenshots(history, opts.history_dir, opts.screenshots) if opts.history_dir is not None else []
        finally:
            if session is not None:
                session.stop_retrieval()
            shutil.rmtree(agent.agent_directory, ignore_errors=True)
    saved = save_history(history, task, opts.history_dir, opts.sensitive_data) if opts.history_dir is not None else None
    result = RunResult(
        task=task,
        final_answer=history.final_result(),
        success=history.is_successful(),
        steps=history.number_of_steps(),
        seconds=seconds,
        history_path=saved,
        advice=list(session.given) if session is not None else [],
        history=history,
        screenshots=shots,
        excluded=sorted(session.excluded) if session is not None else [],
    )
    if label is not None:
        result.label = await label(result)
        if result.label is not None:
            result.success = result.label.success
    elif opts.agent_kwargs.get("use_judge"):
        judged = history.judgement()
        result.success = judged.get("verdict") if isinstance(judged, dict) else result.success
    if session is not None:
        result.episode = await session.on_done(history, label=result.label, llm=condenser_llm, save_to=episode_path)
    return result


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


def keep_screenshots(history: Any, directory: Path, keep: int) -> list[Path]:
    """Copy the last `keep` step screenshots into `directory` (as step-NN.png) before the agent's folder is removed."""
    if keep <= 0:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    found = [(n, Path(p)) for n, p in enumerate(history.screenshot_paths(), start=1) if p]
    kept: list[Path] = []
    for step, source in found[-keep:]:
        if source.is_file():
            target = directory / f"step-{step:02d}{source.suffix or '.png'}"
            shutil.copyfile(source, target)
            kept.append(target)
    return kept


def save_history(history: Any, task: str, directory: Path, sensitive_data: dict[str, Any] | None = None) -> Path:
    """Write the run's history as browser-use's JSON, with typed secrets masked (it can be re-ingested later)."""
    redactor = Redactor(sensitive_values(sensitive_data))
    parse_history(history, redactor)  # learns the values typed into password fields
    data = redactor.data(history.model_dump())
    assert isinstance(data, dict)
    private_dir(directory)
    path = directory / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{slug(task)}.json"
    write_private(path, [json.dumps({**data, "task": task}, indent=1, default=str)])  # 0600: a run's history is private
    return path


async def run_with_memory(
    task: str,
    *,
    model: str,
    url: str | None = None,
    coached: bool = True,
    coach_llm: str | None = None,
    judge: bool = False,
    base_url: str | None = None,
    max_steps: int = 30,
    headless: bool = True,
    browser: str | None = None,
    home: Path | None = None,
    namespace: str | None = None,
    chroma_url: str | None = None,
    on_step: Callable[[StepEvent], None] | None = None,
    on_advice: Callable[[Advice], None] | None = None,
    task_id: str | None = None,
) -> RunResult:
    """`webcoach run`: one agent run on the user's own store (coached and stored unless `coached` is False), with
    browser-use's judge labelling it when `judge` is set; the history is kept under $WEBCOACH_HOME/runs."""
    from webcoach.coach.coach import Coach
    from webcoach.hooks.browser_session import find_chromium
    from webcoach.memory.store import EpisodeStore
    from webcoach.settings import resolve

    settings = resolve(home=home, namespace=namespace, chroma_url=chroma_url)
    options = RunOptions(
        max_steps=max_steps,
        headless=headless,
        browser=find_chromium(browser),
        agent_kwargs={"use_judge": judge},
        history_dir=settings.runs_dir,
    )
    llm = browser_llm(model, base_url=base_url)
    store = EpisodeStore(home=home, namespace=namespace, url=chroma_url) if coached else None
    try:
        coach = None
        if store is not None:
            from webcoach.providers import resolve_model

            coach = Coach(store, llm=resolve_model(coach_llm, base_url=base_url) if coach_llm else None)
        return await run_task(task, llm=llm, url=url, coach=coach, options=options, on_step=on_step, on_advice=on_advice)
    finally:
        if store is not None:
            store.close()
