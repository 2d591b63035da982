"""Paired eval runs: the same tasks, in the same order, for each arm; judged; appended to OUT/results.jsonl as they end.

Arms:
- baseline: plain browser-use, no coach, no memory.
- coach: coached, and each finished run is condensed (labelled with the judge's verdict) into the arm's memory, so
  memory grows as the run proceeds. It starts empty, or from a `webcoach memory export` file (`memory=`).
- frozen: coached from the `memory=` export only; nothing is ever written to its memory.

Each arm has its own store (OUT/stores/ARM, or the namespace RUN-ARM on a shared Chroma server), so no arm ever reads
what another wrote, and none touches your own store. Jobs run task by task (each task's arms one after another, in an
order shuffled per task when an order seed is given), so the arms meet live sites in the same state; `repeats` runs
the whole selection that many times. A task's own earlier runs (same task, or same question on the same start page)
are kept from its coaching, so memory can never hand an agent the answer it gave last time.

Concurrency: `concurrency` workers take jobs in that order, each agent in its own browser profile. The coach arm learns
from runs that have FINISHED: with one worker, task i sees every earlier task's episode; with N workers, up to ~N/2
earlier tasks of the coach arm may still be running when task i starts. Use concurrency 1 for a strict learning curve.

Outages: before each job the task's start page gets a health check (tasks/health.py); a job whose site is down is not
run, and a run whose start page never loaded is not judged and not stored. Such rows carry `outage`: out of both arms'
rates (the report drops the whole (task, repeat) unit), out of memory, counted in the report, and run again (every
arm of the unit) by --resume. A per-task time limit stops the agent at its next step (a failure, judged as usual).

A crash, Ctrl-C or SIGKILL loses only the tasks under way: an episode is stored before its result row is written, and
`resume=True` skips every (arm, task, repeat) already in results.jsonl (running again the harness errors), stores again
any episode a row cites that memory lacks, and first kills the browsers a killed run left behind (see eval_state).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webcoach.coach.coach import Coach, CoachConfig
from webcoach.errors import ConfigError, WebcoachError
from webcoach.hooks.browser_use import Label
from webcoach.hooks.runner import RunOptions, RunResult, browser_llm, run_task, slug
from webcoach.llm import metered
from webcoach.settings import check_namespace
from webcoach.tasks import environment, eval_state
from webcoach.tasks.eval_rows import (
    ended_off_site,
    error_row,
    final_url,
    finished_row,
    outage_row,
    same_task,
    start_never_loaded,
    usage_of,
)
from webcoach.tasks.health import check_site
from webcoach.tasks.judge import AgentJudge, Evidence, Judge, Verdict, make_judge
from webcoach.tasks.miniwob import SCRIPT_ACTIONS, RewardProbe
from webcoach.tasks.results import (
    TaskResult,
    append_result,
    cut_partial_line,
    finished,
    latest,
    read_results,
    results_path,
)
from webcoach.tasks.site import SITES_DIR, serve
from webcoach.tasks.taskset import Task, take_shard

if TYPE_CHECKING:
    from webcoach.memory.store import EpisodeStore

log = logging.getLogger("webcoach")

ARMS = ("baseline", "coach", "frozen")
AgentModel = str | Callable[[Task], Any]  # a model spec, or task -> a browser-use chat model (tests: a ScriptedLLM per task)


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    out_dir: Path
    model: AgentModel
    judge: Judge | str = "agent"
    arms: tuple[str, ...] = ("baseline", "coach")
    concurrency: int = 1
    max_steps: int = 30
    resume: bool = False
    shard: tuple[int, int] | None = None
    repeats: int = 1  # run the whole selection this many times (run-to-run variance)
    order_seed: int | None = None  # shuffles the arms' order within each task (the plan shuffles the tasks)
    memory: Path | None = None  # a `webcoach memory export` JSONL: the coach arm starts from it, the frozen arm uses it
    chroma_url: str | None = None  # a shared Chroma server (for shards on several machines); default: embedded, per arm
    run_name: str | None = None  # names the arms' namespaces on a server and picks the local sites' port
    embedder: str | None = None
    coach: CoachConfig = field(default_factory=CoachConfig)
    coach_llm: object | None = None  # an LLM decider for the coach (default: rule-based)
    condenser_llm: object | None = None  # an LLM condenser for the coach arm's episodes (default: rule-based)
    base_url: str | None = None  # an OpenAI-compatible server for openai: model specs (agent, coach, condenser)
    judge_base_url: str | None = None  # the judge's server, when it is another one
    seed: int = 42  # sent to LLMs that take one (temperature is 0 for OpenAI-compatible ones)
    learn_from_judge: bool = True  # label the coach arm's episodes with the judge's verdict (else the agent's own claim)
    exclude_same_task: bool = True  # keep a task's own earlier runs out of its coaching
    allow_scripts: bool = False  # let the agent run page scripts (browser-use's evaluate) on MiniWoB++ pages
    screenshots: int = 3  # kept per task (and shown to an LLM judge)
    judge_sample: int = 0  # write a sheet of this many judged runs for a person to label
    headless: bool = True
    browser: str | None = None
    site: str | Path | None = None  # for `{site}` URLs: a base URL, or a folder to serve (default: the bundled sites)
    calculate_cost: bool = False  # let browser-use price tokens (it fetches a price list)
    max_errors_in_a_row: int = 5  # harness errors in a row that stop the run (a broken browser or provider)
    health_check: bool = True  # check each task's start page is reachable before running it (outages are not failures)
    time_limit_s: float | None = None  # stop an agent at its next step after this long (a failure, judged as usual)
    provenance: dict[str, Any] = field(default_factory=dict)  # task source, selection, seeds: kept in run.json


@dataclass(kw_only=True)
class EvalRun:
    out_dir: Path
    planned: int  # jobs this call had to run
    skipped: int  # jobs already done (resume)
    results: list[TaskResult]  # what this call added, in the order they finished
    cleaned: tuple[int, int] = (0, 0)  # (browsers killed, profiles removed) left by a killed run
    restored: int = 0  # episodes stored again on resume


@dataclass(frozen=True, kw_only=True)
class Job:
    task: Task
    arm: str
    repeat: int
    order: int


@dataclass(kw_only=True)
class _Arm:
    name: str
    coach: Coach | None = None
    store: EpisodeStore | None = None
    learns: bool = False


def _check(config: EvalConfig) -> None:
    unknown = [a for a in config.arms if a not in ARMS]
    if unknown or not config.arms:
        raise ConfigError(f"unknown arm(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(ARMS)}")
    if len(set(config.arms)) != len(config.arms):
        raise ConfigError(f"arms {', '.join(config.arms)} name one twice")
    if "frozen" in config.arms and config.memory is None:
        raise ConfigError("the frozen arm needs a memory to use: pass memory= (CLI: --memory EXPORT.jsonl)")
    if config.memory is not None and not config.memory.is_file():
        raise ConfigError(f"memory export {config.memory} does not exist (make one with `webcoach memory export FILE`)")
    if config.concurrency < 1:
        raise ConfigError(f"concurrency must be at least 1, not {config.concurrency}")
    if config.repeats < 1:
        raise ConfigError(f"repeats must be at least 1, not {config.repeats}")
    if config.time_limit_s is not None and config.time_limit_s <= 0:
        raise ConfigError(f"the per-task time limit must be positive, not {config.time_limit_s:g} seconds")
    if isinstance(config.model, str):
        browser_llm(
            config.model, base_url=config.base_url, seed=config.seed, temperature=0.0
        )  # a bad spec, key or script: stop now, not once per task


def _name(model: object) -> str | None:
    if model is None or isinstance(model, str):
        return model
    return str(getattr(model, "name", None) or getattr(model, "__name__", None) or type(model).__name__)


def _scripted_file(model: object) -> dict[str, Any] | None:
    if isinstance(model, str) and model.startswith("scripted:"):
        return environment.file_record(model.partition(":")[2])
    return None


def agent_decoding(config: EvalConfig) -> dict[str, Any] | None:
    """The decoding settings the agent's model really gets (None for a model object or a scripted model)."""
    if not isinstance(config.model, str) or config.model.startswith("scripted:"):
        return None
    provider = config.model.partition(":")[0]
    if provider == "anthropic" and not config.base_url:
        return {"temperature": 0.0, "seed": None, "note": "temperature in the request body; the Messages API has no seed"}
    if provider == "ollama" and not config.base_url:
        return {"temperature": None, "seed": None, "note": f"browser-use's {provider} client takes no temperature or seed"}
    return {"temperature": 0.0, "seed": config.seed}


def _manifest(config: EvalConfig, tasks: Sequence[Task], judge: Judge, planned: int) -> dict[str, Any]:
    return {
        "agent_decoding": agent_decoding(config),
        **config.provenance,
        "webcoach_version": eval_state.webcoach_version(),
        "code_revision": environment.code_revision(),
        "packages": environment.package_versions(),
        "browser_version": environment.browser_version(config.browser),
        "memory_snapshot": environment.file_record(config.memory),
        "scripted_model": _scripted_file(config.model),
        "embedder": config.embedder,
        "coach_config": asdict(config.coach),
        "judge_config": judge.describe(),
        "concurrency": config.concurrency,
        "screenshots": config.screenshots,
        "learn_from_judge": config.learn_from_judge,
        "health_check": config.health_check,
        "time_limit_s": config.time_limit_s,
        "chroma_url": config.chroma_url,
        "run_name": config.run_name,
        "calculate_cost": config.calculate_cost,
        "site": str(config.site) if isinstance(config.site, str) else None,
        "arms": list(config.arms),
        "model": _name(config.model),
        "base_url": config.base_url,
        "judge": judge.name,
        "judge_base_url": config.judge_base_url,
        "condenser_llm": _name(config.condenser_llm),
        "coach_llm": _name(config.coach_llm),
        "shard": list(config.shard) if config.shard else None,
        "tasks": [t.id for t in tasks],
        "planned": planned,
        "repeats": config.repeats,
        "max_steps": config.max_steps,
        "seed": config.seed,
        "order_seed": config.order_seed,
        "exclude_same_task": config.exclude_same_task,
        "allow_scripts": config.allow_scripts,
    }


def plan_jobs(tasks: Sequence[Task], config: EvalConfig, order: dict[str, int]) -> list[Job]:
    """Every (task, arm, repeat), repeat by repeat, task by task; the arms of a task in a shuffled order when an
    order seed is given (always the same order for the same seed)."""
    rng = random.Random(config.order_seed)
    jobs: list[Job] = []
    for repeat in range(config.repeats):
        for task in tasks:
            arms = list(config.arms)
            if config.order_seed is not None:
                rng.shuffle(arms)
            jobs += [Job(task=task, arm=a, repeat=repeat, order=order[task.id]) for a in arms]
    return jobs


def _open_store(config: EvalConfig, arm: str) -> EpisodeStore:
    from webcoach.memory.store import EpisodeStore

    if config.chroma_url is not None:
        run = slug(config.run_name or config.out_dir.resolve().name, 30)
        return EpisodeStore(url=config.chroma_url, namespace=check_namespace(f"eval-{run}-{arm}"), embedder=config.embedder)
    return EpisodeStore(path=config.out_dir / "stores" / arm, embedder=config.embedder)


def _arm(config: EvalConfig, name: str, base: str | None, rows: Sequence[TaskResult]) -> tuple[_Arm, int]:
    if name == "baseline":
        return _Arm(name=name), 0
    store = _open_store(config, name)
    try:
        if config.memory is not None:
            eval_state.import_memory(store, config.memory, base)  # idempotent: a resumed run or a shard adds nothing twice
        learns = name == "coach"
        restored = eval_state.restore_episodes(config.out_dir, name, store, rows) if learns else 0
        # The coach arm stores its runs (labelled by the judge); the frozen arm's memory is never written.
        coach_config = replace(config.coach, store_runs=learns, update_usefulness=learns and config.coach.update_usefulness)
        llm = config.coach_llm
        if isinstance(llm, str):
            from webcoach.providers import resolve_model

            llm = resolve_model(llm, base_url=config.base_url, seed=config.seed)
        coach = Coach(store, llm=llm, config=coach_config)
    except BaseException:
        store.close()
        raise
    return _Arm(name=name, coach=coach, store=store, learns=learns), restored


@contextlib.contextmanager
def _site(config: EvalConfig, tasks: Sequence[Task], port: int) -> Iterator[str | None]:
    if not any(t.local for t in tasks):
        yield None
    elif isinstance(config.site, str):
        yield config.site
    else:
        with serve(config.site or SITES_DIR, port=port) as base:
            yield base


def preflight(tasks: Sequence[Task], config: EvalConfig) -> None:
    """The checks `evaluate` makes before any browser starts (settings; on --resume, that nothing changed), for a
    caller that wants them before it shows progress."""
    _check(config)
    if config.resume:
        judge = make_judge(config.judge, screenshots=config.screenshots, base_url=config.judge_base_url, seed=config.seed)
        mine = take_shard(tasks, config.shard)
        every = plan_jobs(mine, config, {t.id: i for i, t in enumerate(tasks)})
        eval_state.check_resume(
            config.out_dir, eval_state.read_manifest(config.out_dir), _manifest(config, mine, judge, len(every))
        )


async def evaluate(
    tasks: Sequence[Task],
    config: EvalConfig,
    *,
    on_plan: Callable[[int, int], None] | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
) -> EvalRun:
    """Run every arm on this shard of `tasks` (the whole selection, in run order). `on_plan(to_run, already_done)` is
    called once before the first job, `on_result` after each result is on disk."""
    _check(config)
    judge = make_judge(config.judge, screenshots=config.screenshots, base_url=config.judge_base_url, seed=config.seed)
    condenser = config.condenser_llm
    if isinstance(condenser, str):
        from webcoach.providers import resolve_model

        condenser = resolve_model(condenser, base_url=config.base_url, seed=config.seed)
    order = {t.id: i for i, t in enumerate(tasks)}
    mine = take_shard(tasks, config.shard)
    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    with eval_state.lock_out(out):
        path = results_path(out)
        if path.exists() and path.stat().st_size > 0 and not config.resume:
            raise ConfigError(f"{out} already holds results: pass --resume to continue that run, or choose another --out")
        before = eval_state.read_manifest(out) if config.resume else None
        rows = read_results(path) if config.resume and path.exists() else []
        down = {(r.task_id, r.repeat) for r in latest(rows) if r.outage is not None and r.error is None}
        done = {k for k in finished(rows) if (k[1], k[2]) not in down}  # a unit whose site was down runs again whole
        every = plan_jobs(mine, config, order)
        manifest = _manifest(config, mine, judge, len(every))
        eval_state.check_resume(out, before, manifest)
        cleaned = eval_state.clean_leftovers(out)
        jobs = deque(j for j in every if (j.arm, j.task.id, j.repeat) not in done)
        run_name = config.run_name or out.resolve().name
        serves = any(t.local for t in mine) and not isinstance(config.site, str)
        port = eval_state.stable_port(run_name, before) if serves else 0
        started = before.get("started_at") if before else None
        manifest.update(started_at=started or eval_state.now_iso(), site_port=port or None, finished_at=None)
        eval_state.write_manifest(out, manifest)
        cut_partial_line(path)
        planned = len(jobs)
        if on_plan is not None:
            on_plan(planned, len(every) - planned)
        added: list[TaskResult] = []
        arms: dict[str, _Arm] = {}
        restored = 0
        try:
            with _site(config, mine, port) as base:
                for name in config.arms:
                    arms[name], count = await asyncio.to_thread(_arm, config, name, base, rows)
                    restored += count
                    store = arms[name].store
                    if store is not None:
                        manifest.setdefault("embedder_used", {})[name] = store.embedder.name
                failing: list[TaskResult] = []  # harness errors since the last run that worked

                async def worker() -> None:
                    while jobs:
                        job = jobs.popleft()
                        result = await _run_job(job, arms[job.arm], config, judge, condenser, base)
                        append_result(path, result)  # after the coach arm's episode is stored (in run_task)
                        added.append(result)
                        if on_result is not None:
                            on_result(result)
                        failing[:] = [*failing, result] if result.error else []
                        if len(failing) >= config.max_errors_in_a_row:
                            jobs.clear()  # a broken set-up (browser, provider, key): stop instead of failing every task

                await asyncio.gather(*(worker() for _ in range(min(config.concurrency, max(planned, 1)))))
                if len(failing) >= config.max_errors_in_a_row:
                    raise WebcoachError(
                        f"stopped: {len(failing)} runs in a row failed in the harness (last: {failing[-1].error}); "
                        f"fix that, then run again with --resume ({out} keeps what finished)"
                    )
        finally:
            for a in arms.values():
                if a.store is not None:
                    a.store.close()
            manifest["updated_at"] = eval_state.now_iso()
            if not jobs:
                manifest["finished_at"] = manifest["updated_at"]
            eval_state.write_manifest(out, manifest)
        if config.judge_sample > 0:
            from webcoach.tasks.judge_sample import write_sheet

            write_sheet(out, config.judge_sample, seed=config.seed)
    return EvalRun(out_dir=out, planned=planned, skipped=len(every) - planned, results=added, cleaned=cleaned, restored=restored)


class _Outage(Exception):
    """Raised from the label callback when the start page never loaded: the run is not judged, stored or credited."""

    def __init__(self, why: str, run: RunResult) -> None:
        super().__init__(why)
        self.why = why
        self.run = run


def _time_limit(seconds: float | None) -> tuple[dict[str, Any], Callable[[], bool]]:
    """Agent kwargs that stop the agent at its next step once `seconds` have passed since it first checked (its
    browser started: a slow browser start never leaves a run with no step at all), and a check whether it did."""
    if seconds is None:
        return {}, lambda: False
    started: list[float] = []
    hit = [False]

    async def should_stop() -> bool:
        started[:] = started or [time.monotonic()]
        hit[0] = hit[0] or time.monotonic() - started[0] > seconds
        return hit[0]

    return {"register_should_stop_callback": should_stop}, lambda: hit[0]


async def _run_job(job: Job, arm: _Arm, config: EvalConfig, judge: Judge, condenser: object, base: str | None) -> TaskResult:
    task = job.task
    run_dir = config.out_dir / "runs" / arm.name / eval_state.run_folder(task.id, job.repeat)
    url = task.url(base)
    common: dict[str, Any] = {
        "arm": arm.name,
        "task_id": task.id,
        "repeat": job.repeat,
        "site": task.site,
        "order": job.order,
        "question": task.question,
        "start_url": url,
        "reference": [f"{a.kind}: {a.answer}" for a in task.answers],
        "judge": judge.name,
        "model": _name(config.model) or "",
    }
    if config.health_check:
        down = await asyncio.to_thread(check_site, url)
        if down is not None:
            log.warning("webcoach eval: %s: %s (an outage: not run, not counted)", task.id, down)
            return outage_row(common, down, {})
    probe = RewardProbe(task) if judge.needs_reward else None
    verdicts: list[tuple[Verdict, float]] = []

    async def label(run: RunResult) -> Label | None:
        never = start_never_loaded(run.history)
        if never is not None:
            raise _Outage(never, run)  # before the coach stores or credits anything
        started = time.monotonic()
        end = final_url(run.history)
        verdict = await judge.judge(
            Evidence(
                task=task,
                final_answer=run.final_answer,
                claimed_success=run.history.is_successful(),
                screenshots=tuple(p.read_bytes() for p in run.screenshots),
                judgement=run.history.judgement(),
                reward=probe.reward if probe is not None else None,
                reward_rejected=probe.rejected if probe is not None else None,
                final_url=end,
                off_site=ended_off_site(url, end) is True,
            )
        )
        verdicts.append((verdict, time.monotonic() - started))
        if not config.learn_from_judge:
            return None
        if isinstance(judge, AgentJudge):
            return Label(success=verdict.success, by="agent", reason=verdict.reason)
        # A judge this eval ran: its verdict is vouched for by that judge (its name carries the model id).
        return Label(success=verdict.success, by="judge", reason=verdict.reason, vouched_by=f"judge:{judge.name}")

    stop_kwargs, stopped = _time_limit(config.time_limit_s)
    options = RunOptions(
        max_steps=config.max_steps,
        headless=config.headless,
        browser=config.browser,
        agent_kwargs={**judge.agent_kwargs(), **stop_kwargs},
        history_dir=run_dir,
        screenshots=max(config.screenshots, judge.screenshots),
        signal_handler=False,
        exclude_actions=SCRIPT_ACTIONS if probe is not None and not config.allow_scripts else (),
        calculate_cost=config.calculate_cost,
        profile_dir=eval_state.profiles_dir(config.out_dir),
    )
    with metered() as meter:
        try:
            llm = config.model if isinstance(config.model, str) else config.model(task)
            if isinstance(llm, str):
                llm = browser_llm(llm, base_url=config.base_url, seed=config.seed, temperature=0.0)
            run = await run_task(
                task.question,
                llm=llm,
                url=url,
                coach=arm.coach,
                options=options,
                after_step=[probe.after_step] if probe is not None else [],
                label=label,
                exclude=same_task(task, url) if config.exclude_same_task else None,
                task_id=task.id,
                condenser_llm=condenser,
                episode_path=run_dir / "episode.json" if arm.learns else None,
            )
        except _Outage as outage:
            log.warning("webcoach eval: %s: %s (an outage: not judged, not stored)", task.id, outage.why)
            return outage_row(common, outage.why, usage_of(meter, outage.run.history, False), outage.run)
        except Exception as exc:  # the harness boundary: one broken run must not end a benchmark; --resume retries it
            return error_row(common, exc, usage_of(meter, None, False))
    verdict, judge_seconds = verdicts[0]
    return await finished_row(
        common,
        run,
        verdict,
        judge_seconds,
        usage_of(meter, run.history, config.calculate_cost),
        config.out_dir,
        time_limited=stopped(),
    )
