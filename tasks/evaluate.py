"""Paired eval runs: the same tasks, in the same order, for each arm; judged; appended to OUT/results.jsonl as they end.

Arms:
- baseline: plain browser-use, no coach, no memory.
- coach: coached, and each finished run is condensed (labelled with the judge's verdict) into the arm's memory, so
  memory grows as the run proceeds. It starts empty, or from a `webcoach memory export` file (`memory=`).
- frozen: coached from the `memory=` export only; nothing is ever written to its memory.

Each arm has its own store (OUT/stores/ARM, or the namespace RUN-ARM on a shared Chroma server), so no arm ever reads
what another wrote, and none touches your own store. Jobs run task by task, each task's arms side by side, so the arms
meet live sites in the same state.

Concurrency: `concurrency` workers take jobs in that order, each agent in its own browser profile. The coach arm learns
from runs that have FINISHED: with one worker, task i sees every earlier task's episode; with N workers, up to ~N/2
earlier tasks of the coach arm may still be running when task i starts, so the coach arm learns a little later and
which episodes it sees depends on timing. Use concurrency 1 for a strict learning curve, more for throughput.

A crash or Ctrl-C loses only the tasks under way; `resume=True` skips every (arm, task) already in results.jsonl (and
runs again the ones that ended in a harness error). A result is written before its episode is stored, so a task run
again after a crash can never find its own earlier attempt in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webcoach.coach.coach import Coach, CoachConfig
from webcoach.condenser.condense import acondense
from webcoach.errors import ConfigError, WebcoachError
from webcoach.hooks.runner import browser_llm, slug
from webcoach.settings import check_namespace
from webcoach.tasks.agent_run import AgentRun, run_agent
from webcoach.tasks.judge import Evidence, Judge, Verdict, make_judge
from webcoach.tasks.results import Intervention, TaskResult, append_result, cut_partial_line, finished, read_results, results_path
from webcoach.tasks.site import SITES_DIR, serve
from webcoach.tasks.taskset import Task, take_shard

if TYPE_CHECKING:
    from webcoach.coach.advice import Advice
    from webcoach.condenser.episode import Episode
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
    memory: Path | None = None  # a `webcoach memory export` JSONL: the coach arm starts from it, the frozen arm uses it
    chroma_url: str | None = None  # a shared Chroma server (for shards on several machines); default: embedded, per arm
    run_name: str | None = None  # names the arms' namespaces on a server (default: the out folder's name)
    embedder: str | None = None
    coach: CoachConfig = field(default_factory=CoachConfig)
    coach_llm: object | None = None  # an LLM decider for the coach (default: rule-based)
    condenser_llm: object | None = None  # an LLM condenser for the coach arm's episodes (default: rule-based)
    learn_from_judge: bool = True  # label the coach arm's episodes with the judge's verdict (else the agent's own claim)
    screenshots: int = 3  # kept per task (and shown to an LLM judge)
    headless: bool = True
    browser: str | None = None
    site: str | Path | None = None  # for `{site}` URLs: a base URL, or a folder to serve (default: the bundled sites)
    calculate_cost: bool = False  # let browser-use price tokens (it fetches a price list)
    max_errors_in_a_row: int = 5  # harness errors in a row that stop the run (a broken browser or provider)


@dataclass(kw_only=True)
class EvalRun:
    out_dir: Path
    planned: int  # jobs this call had to run
    skipped: int  # jobs already done (resume)
    results: list[TaskResult]  # what this call added, in the order they finished


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
    if isinstance(config.model, str):
        browser_llm(config.model)  # a bad spec, a missing API key or script: stop now, not once per task


def _model_name(model: AgentModel) -> str:
    return model if isinstance(model, str) else getattr(model, "__name__", type(model).__name__)


def _manifest(config: EvalConfig, tasks: Sequence[Task], judge: Judge) -> dict[str, Any]:
    return {
        "arms": list(config.arms),
        "model": _model_name(config.model),
        "judge": judge.name,
        "shard": list(config.shard) if config.shard else None,
        "tasks": [t.id for t in tasks],
        "max_steps": config.max_steps,
    }


def _prepare_out(config: EvalConfig, manifest: dict[str, Any]) -> Path:
    """Create OUT, or check that a resumed OUT was started with the same tasks, arms, model and judge."""
    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    results = results_path(out)
    run_file = out / "run.json"
    has_results = results.exists() and results.stat().st_size > 0
    if has_results and not config.resume:
        raise ConfigError(f"{out} already holds results: pass --resume to continue that run, or choose another --out")
    if config.resume and run_file.exists():
        before = json.loads(run_file.read_text(encoding="utf-8"))
        changed = [k for k in ("arms", "model", "judge", "shard", "tasks", "max_steps") if before.get(k) != manifest.get(k)]
        if changed:
            raise ConfigError(
                f"{out} was started with other {', '.join(changed)}: resume with the options it was started with, "
                "or choose another --out"
            )
    run_file.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    cut_partial_line(results)
    return results


def _open_store(config: EvalConfig, arm: str) -> EpisodeStore:
    from webcoach.memory.store import EpisodeStore

    if config.chroma_url is not None:
        run = slug(config.run_name or config.out_dir.resolve().name, 30)
        return EpisodeStore(url=config.chroma_url, namespace=check_namespace(f"eval-{run}-{arm}"), embedder=config.embedder)
    return EpisodeStore(path=config.out_dir / "stores" / arm, embedder=config.embedder)


def _arm(config: EvalConfig, name: str) -> _Arm:
    if name == "baseline":
        return _Arm(name=name)
    store = _open_store(config, name)
    try:
        if config.memory is not None:
            store.import_(config.memory)  # idempotent: a resumed run or another shard adds nothing twice
        # The eval stores the coach arm's runs itself, after judging; the frozen arm's memory is never written.
        quiet = replace(config.coach, store_runs=False, update_usefulness=False)
        coach = Coach(store, llm=config.coach_llm, config=quiet)
    except BaseException:
        store.close()
        raise
    return _Arm(name=name, coach=coach, store=store, learns=name == "coach")


@contextlib.contextmanager
def _site(config: EvalConfig, tasks: Sequence[Task]) -> Iterator[str | None]:
    if not any(t.local for t in tasks):
        yield None
    elif isinstance(config.site, str):
        yield config.site
    else:
        with serve(config.site or SITES_DIR) as base:
            yield base


def run_folder(task: Task) -> str:
    """A folder name per task id (ids hold spaces and may differ only in case)."""
    return f"{slug(task.id, 48)}-{hashlib.sha1(task.id.encode()).hexdigest()[:6]}"


async def evaluate(
    tasks: Sequence[Task],
    config: EvalConfig,
    *,
    on_plan: Callable[[int, int], None] | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
) -> EvalRun:
    """Run every arm on this shard of `tasks` (the whole selection, in order). `on_plan(to_run, already_done)` is
    called once before the first job, `on_result` after each result is on disk."""
    _check(config)
    judge = make_judge(config.judge, screenshots=config.screenshots)
    order = {t.id: i for i, t in enumerate(tasks)}
    mine = take_shard(tasks, config.shard)
    path = _prepare_out(config, _manifest(config, mine, judge))
    already = finished(read_results(path)) if config.resume and path.exists() else set()
    jobs = deque((task, arm) for task in mine for arm in config.arms if (arm, task.id) not in already)
    planned = len(jobs)
    if on_plan is not None:
        on_plan(planned, len(mine) * len(config.arms) - planned)
    added: list[TaskResult] = []
    arms: dict[str, _Arm] = {}
    try:
        for name in config.arms:
            arms[name] = await asyncio.to_thread(_arm, config, name)
        with _site(config, mine) as base:
            failing: list[TaskResult] = []  # harness errors since the last run that worked

            async def worker() -> None:
                while jobs:
                    task, arm = jobs.popleft()
                    done = await _run_job(task, arms[arm], config, judge, base, order[task.id])
                    append_result(path, done.result)
                    added.append(done.result)
                    await _learn(arms[arm], done, config)
                    if on_result is not None:
                        on_result(done.result)
                    failing[:] = [*failing, done.result] if done.result.error else []
                    if len(failing) >= config.max_errors_in_a_row:
                        jobs.clear()  # a broken set-up (browser, provider, key): stop instead of failing every task

            await asyncio.gather(*(worker() for _ in range(min(config.concurrency, max(planned, 1)))))
            if len(failing) >= config.max_errors_in_a_row:
                raise WebcoachError(
                    f"stopped: {len(failing)} runs in a row failed in the harness (last: {failing[-1].error}); "
                    f"fix that, then run again with --resume ({config.out_dir} keeps what finished)"
                )
    finally:
        for a in arms.values():
            if a.store is not None:
                a.store.close()
    return EvalRun(out_dir=config.out_dir, planned=planned, skipped=len(mine) * len(config.arms) - planned, results=added)


@dataclass(kw_only=True)
class _Done:
    result: TaskResult
    episode: Episode | None = None  # the run condensed for the arm's memory, stored once the result is on disk


async def _run_job(task: Task, arm: _Arm, config: EvalConfig, judge: Judge, base: str | None, order: int) -> _Done:
    run_dir = config.out_dir / "runs" / arm.name / run_folder(task)
    url = task.url(base)
    common: dict[str, Any] = {
        "arm": arm.name,
        "task_id": task.id,
        "site": task.site,
        "order": order,
        "question": task.question,
        "start_url": url,
        "reference": [f"{a.kind}: {a.answer}" for a in task.answers],
        "judge": judge.name,
        "model": _model_name(config.model),
    }
    try:
        run = await run_agent(
            task,
            llm=config.model if isinstance(config.model, str) else config.model(task),
            url=url,
            judge=judge,
            run_dir=run_dir,
            coach=arm.coach,
            max_steps=config.max_steps,
            headless=config.headless,
            browser=config.browser,
            keep_screenshots=max(config.screenshots, judge.screenshots),
            calculate_cost=config.calculate_cost,
        )
    except Exception as exc:  # the harness boundary: one broken run must not end a benchmark; --resume retries it
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        return _Done(
            result=TaskResult(**common, success=False, verdict=None, judge_reason="not judged: the run failed", error=reason)
        )
    history = run.history
    started = time.monotonic()
    verdict = await judge.judge(
        Evidence(
            task=task,
            final_answer=history.final_result(),
            claimed_success=history.is_successful(),
            screenshots=tuple(p.read_bytes() for p in run.screenshots),
            judgement=history.judgement(),
            reward=run.reward,
        )
    )
    judge_seconds = time.monotonic() - started
    episode = await _condense(task, run, verdict, config) if arm.learns else None
    result = TaskResult(
        **common,
        **_usage(history, config.calculate_cost),
        success=verdict.success is True,
        verdict=verdict.success,
        judge_reason=verdict.reason,
        judge_seconds=judge_seconds,
        reward=verdict.reward,
        claimed_success=history.is_successful(),
        final_answer=history.final_result(),
        steps=history.number_of_steps(),
        seconds=run.seconds,
        interventions=[_intervention(a) for a in run.advice],
        episode_id=episode.id if episode is not None else None,
        history=_relative(run.history_path, config.out_dir),
        screenshots=[p for p in (_relative(s, config.out_dir) for s in run.screenshots) if p],
    )
    return _Done(result=result, episode=episode)


async def _condense(task: Task, run: AgentRun, verdict: Verdict, config: EvalConfig) -> Episode | None:
    outcome = None
    if config.learn_from_judge and verdict.success is not None:
        outcome = "success" if verdict.success else "failure"
    try:
        return await acondense(
            run.history, task.question, llm=config.condenser_llm, outcome=outcome, outcome_by="judge" if outcome else None
        )
    except WebcoachError as exc:  # an unreadable history teaches nothing; the result itself still counts
        log.warning("webcoach eval: run of %s not stored in memory: %s", task.id, exc)
        return None


async def _learn(arm: _Arm, done: _Done, config: EvalConfig) -> None:
    """Store the coach arm's episode, and credit or blame the episodes its advice came from."""
    if arm.store is None or done.episode is None:
        return
    episode, result = done.episode, done.result
    await asyncio.to_thread(arm.store.add, episode)
    cited = sorted({i for a in result.interventions for i in a.episode_ids} - {episode.id})
    if config.coach.update_usefulness and cited and result.verdict is not None:
        await asyncio.to_thread(arm.store.record_outcome, cited, result.verdict)


def _intervention(advice: Advice) -> Intervention:
    return Intervention(
        text=advice.text,
        episode_ids=list(advice.episode_ids),
        trigger=advice.trigger,
        step=advice.step,
        confidence=advice.confidence,
    )


def _usage(history: Any, with_cost: bool) -> dict[str, Any]:
    usage = getattr(history, "usage", None)
    if usage is None or not getattr(usage, "entry_count", 0):
        return {}  # the provider reported nothing (scripted models never do)
    return {
        "prompt_tokens": usage.total_prompt_tokens,
        "completion_tokens": usage.total_completion_tokens,
        "total_tokens": usage.total_tokens,
        "cost": usage.total_cost if with_cost else None,
    }


def _relative(path: Path | None, root: Path) -> str | None:
    if path is None:
        return None
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
