"""From the `webcoach eval` command's options to a run: which tasks (a task file, or the bundled miniwob / webvoyager
suites), in which order, with which settings; what to warn about; then the run itself. The CLI only parses and prints."""

from __future__ import annotations

import hashlib
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from webcoach.coach.coach import CoachConfig
from webcoach.errors import ConfigError
from webcoach.tasks.environment import file_record
from webcoach.tasks.evaluate import EvalConfig, EvalRun, evaluate
from webcoach.tasks.results import TaskResult
from webcoach.tasks.taskset import Task, load_answers, load_tasks, parse_shard, select, with_answers

SUITES = ("miniwob", "webvoyager")


@dataclass(frozen=True, kw_only=True)
class EvalOptions:
    """The eval command's options, as typed (comma-separated lists stay strings until planned)."""

    tasks_file: Path | None = None
    suite: str | None = None
    names: str | None = None  # MiniWoB++ tasks
    episodes: int = 1
    seed: int = 0  # first MiniWoB++ seed
    sites: str | None = None
    ids: str | None = None
    limit: int | None = None
    sample_seed: int = 0  # --limit's seeded, site-stratified sample
    answers: Path | None = None
    date_shift: str | None = None  # 'auto' or a number of years (WebVoyager's past dates)
    order_seed: int | None = None
    repeats: int = 1
    arms: str = "baseline,coach"
    model: str = "anthropic:claude-sonnet-4-5"
    base_url: str | None = None
    judge: str | None = None
    judge_base_url: str | None = None
    llm_seed: int = 42
    coach_llm: str | None = None
    condenser_llm: str | None = None
    memory: Path | None = None
    allow_same_task: bool = False
    allow_scripts: bool = False
    judge_sample: int = 0
    concurrency: int = 1
    out_dir: Path | None = None
    resume: bool = False
    shard: str | None = None
    chroma_url: str | None = None
    run_name: str | None = None
    max_steps: int = 30
    screenshots: int = 3
    site_url: str | None = None
    cost: bool = False
    headless: bool = True
    browser: str | None = None
    embedder: str | None = None
    health_check: bool = True
    time_limit: float | None = None  # seconds per task
    coach_k: int | None = None
    coach_min_similarity: float | None = None
    coach_max_interventions: int | None = None
    coach_min_steps_between: int | None = None
    coach_timeout: float | None = None


@dataclass(kw_only=True)
class EvalPlan:
    tasks: list[Task]
    config: EvalConfig
    notes: list[str] = field(default_factory=list)  # warnings for the user, one line each
    suite: str | None = None


def csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def coach_config(o: EvalOptions) -> CoachConfig:
    """The coach's budget and thresholds: the options given, CoachConfig's defaults for the rest."""
    given = {
        "k": o.coach_k,
        "min_similarity": o.coach_min_similarity,
        "max_interventions": o.coach_max_interventions,
        "min_steps_between": o.coach_min_steps_between,
        "timeout_s": o.coach_timeout,
    }
    config = CoachConfig(**{k: v for k, v in given.items() if v is not None})  # type: ignore[arg-type]
    if config.k < 1 or config.max_interventions < 0 or config.min_steps_between < 0 or config.timeout_s <= 0:
        raise ConfigError(
            "coach settings out of range: --coach-k >= 1, --coach-max-interventions >= 0, "
            "--coach-min-steps-between >= 0, --coach-timeout > 0"
        )
    if not 0.0 <= config.min_similarity <= 1.0:
        raise ConfigError(f"--coach-min-similarity {config.min_similarity:g} is not between 0 and 1")
    return config


def plan_eval(o: EvalOptions, *, today: date | None = None) -> EvalPlan:
    """Load and select the tasks, shuffle them when asked, check dates, and build the run's EvalConfig."""
    from webcoach.hooks.browser_session import find_chromium
    from webcoach.settings import resolve
    from webcoach.tasks import webvoyager

    if (o.tasks_file is None) == (o.suite is None):
        raise ConfigError(f"give a task file or --suite {' / '.join(SUITES)} (one of them)")
    if o.suite is not None and o.suite not in SUITES:
        raise ConfigError(f"unknown suite {o.suite!r}: the built-in suites are {', '.join(SUITES)}")
    shard = parse_shard(o.shard) if o.shard else None
    coach = coach_config(o)
    if o.time_limit is not None and o.time_limit <= 0:
        raise ConfigError(f"--time-limit {o.time_limit:g} is not valid: give the seconds a task may take (more than 0)")
    if o.suite != "miniwob" and o.judge is None:
        raise ConfigError(
            "no --judge: pass an LLM judge (--judge openai:MODEL, anthropic:MODEL, vllm:MODEL, ...), or --judge agent "
            "to score runs by the agent's own claim (the report's headline then says so)"
        )
    if o.suite != "miniwob" and o.judge in ("reward", "miniwob", "miniwob-reward"):
        raise ConfigError("--judge reward reads a MiniWoB++ page's own reward: other tasks need an LLM judge")
    today = today or _recorded_today(o) or date.today()
    notes: list[str] = []
    answers = o.answers
    if o.suite == "miniwob":
        from webcoach.tasks.miniwob import miniwob_tasks

        chosen = miniwob_tasks(csv(o.names) or [], o.episodes, seed=o.seed)
        source = f"suite:miniwob tasks={o.names} episodes={o.episodes} seed={o.seed}"
    else:
        path = webvoyager.WEBVOYAGER_TASKS if o.suite == "webvoyager" else o.tasks_file
        assert path is not None
        chosen = load_tasks(path)
        if o.suite == "webvoyager" and answers is None:
            answers = webvoyager.WEBVOYAGER_ANSWERS
        source = f"{o.suite or 'file'}:{path.name} sha256:{_sha(path) if path.is_file() else '?'}"
    if answers is not None:
        chosen = with_answers(chosen, load_answers(answers))
    chosen = select(chosen, sites=csv(o.sites), ids=csv(o.ids), limit=o.limit, seed=o.sample_seed)
    chosen = _dates(chosen, o.date_shift, notes, today)
    if o.order_seed is not None:
        # Site-grouped file order confounds the learning curve with the sites: shuffle it, reproducibly.
        random.Random(o.order_seed).shuffle(chosen)
    if o.judge == "agent":
        notes.append("--judge agent: success is the agent's own claim, checked by no judge (the report says so)")
    if o.suite == "miniwob" and o.allow_scripts:
        notes.append("--allow-scripts: the agent may run page scripts, so it can forge MiniWoB++ rewards")
    config = EvalConfig(
        out_dir=o.out_dir or Path("runs") / f"eval-{datetime.now():%Y%m%d-%H%M%S}",
        model=o.model,
        judge=o.judge or ("reward" if o.suite == "miniwob" else "agent"),
        arms=tuple(csv(o.arms) or ()),
        concurrency=o.concurrency,
        max_steps=o.max_steps,
        resume=o.resume,
        shard=shard,
        repeats=o.repeats,
        order_seed=o.order_seed,
        memory=o.memory,
        chroma_url=resolve(chroma_url=o.chroma_url).chroma_url,  # as everywhere: the option, else $WEBCOACH_CHROMA_URL
        run_name=o.run_name,
        embedder=o.embedder,
        coach_llm=o.coach_llm,
        condenser_llm=o.condenser_llm,
        base_url=o.base_url,
        judge_base_url=o.judge_base_url or o.base_url,
        seed=o.llm_seed,
        exclude_same_task=not o.allow_same_task,
        allow_scripts=o.allow_scripts,
        screenshots=o.screenshots,
        judge_sample=o.judge_sample,
        headless=o.headless,
        browser=find_chromium(o.browser),
        site=o.site_url,
        calculate_cost=o.cost,
        coach=coach,
        health_check=o.health_check,
        time_limit_s=o.time_limit,
        provenance={
            "task_source": source,
            "answers": str(answers) if answers else None,
            "answers_file": file_record(answers),
            "selection": {
                "sites": o.sites,
                "ids": o.ids,
                "limit": o.limit,
                "sample_seed": o.sample_seed if o.limit is not None else None,
                "date_shift": o.date_shift,
                # the day --date-shift auto moved dates to follow (a rerun on another day would move them otherwise)
                "date_shift_today": today.isoformat() if o.date_shift is not None else None,
            },
            "miniwob_seed": o.seed if o.suite == "miniwob" else None,
        },
    )
    return EvalPlan(tasks=chosen, config=config, notes=notes, suite=o.suite)


def _recorded_today(o: EvalOptions) -> date | None:
    """On --resume, the day the run's --date-shift followed when it started (so its questions stay the same)."""
    if not o.resume or o.out_dir is None or o.date_shift is None:
        return None
    from webcoach.tasks.eval_state import read_manifest

    recorded = ((read_manifest(o.out_dir) or {}).get("selection") or {}).get("date_shift_today")
    try:
        return date.fromisoformat(recorded) if isinstance(recorded, str) else None
    except ValueError:
        return None


def _dates(tasks: list[Task], shift: str | None, notes: list[str], today: date) -> list[Task]:
    from webcoach.tasks.webvoyager import shift_dates, stale_tasks

    if shift is not None:
        years: int | None
        if shift == "auto":
            years = None
        else:
            try:
                years = int(shift)
            except ValueError:
                raise ConfigError(f"--date-shift {shift!r} is not valid: use 'auto' or a number of years, e.g. 2") from None
        tasks, changed = shift_dates(tasks, years, today)
        notes.append(f"--date-shift {shift}: moved the dates of {changed} task(s)")
    stale = stale_tasks(tasks, today)
    if stale:
        ids = ", ".join(t.id for t in stale[:5]) + (" ..." if len(stale) > 5 else "")
        notes.append(f"WARNING: {len(stale)} task(s) name dates that have passed ({ids}): pass --date-shift auto to move them")
    return tasks


def check_plan(plan: EvalPlan) -> None:
    """Refuse a bad or (on --resume) changed set-up now, before anything runs or any progress shows."""
    from webcoach.tasks.evaluate import preflight

    preflight(plan.tasks, plan.config)


async def run_plan(
    plan: EvalPlan,
    *,
    on_plan: Callable[[int, int], None] | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
) -> EvalRun:
    """Run a plan; the MiniWoB++ suite's pages are built in a temp folder and served for the run."""
    from dataclasses import replace

    with tempfile.TemporaryDirectory(prefix="webcoach-miniwob-") as tmp:
        config = plan.config
        if plan.suite == "miniwob" and config.site is None:
            from webcoach.tasks.miniwob import build_site

            config = replace(config, site=build_site(Path(tmp)))
        return await evaluate(plan.tasks, config, on_plan=on_plan, on_result=on_result)
