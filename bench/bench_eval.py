"""Eval harness overhead: what a task costs besides the model's own time, and how runs scale with concurrency.

    python bench/bench_eval.py [--tasks 6] [--concurrency 1 2 4] [--arms baseline,coach] [--dir /tmp/webcoach-bench-eval]

The agent model is a zero-latency ScriptedLLM (browse to a genre, answer), the judge a zero-latency function, the site
the bundled local shop, the browser Debian chromium: so every second measured is harness, browser-use and browser.
First `bare`: the same script through a plain browser-use Agent with nothing of webcoach around it (the floor). Then
full eval runs (each arm on every task, results written, screenshots kept, the coach arm retrieving, condensing and
storing) at each concurrency. Per task it prints the agent run (browser start to close) and the job (run, judge,
condense, store, history, screenshots, result line), and the job minus the bare run: what the eval adds per task."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from webcoach.hooks.browser_session import offline_env  # imports no browser-use

for _key, _value in offline_env().items():
    os.environ.setdefault(_key, _value)

from webcoach.hooks.browser_session import find_chromium, make_browser_profile  # noqa: E402
from webcoach.hooks.scripted import ScriptedLLM  # noqa: E402
from webcoach.llm import FunctionModel  # noqa: E402
from webcoach.tasks.evaluate import EvalConfig, evaluate  # noqa: E402
from webcoach.tasks.results import TaskResult  # noqa: E402
from webcoach.tasks.site import serve  # noqa: E402
from webcoach.tasks.taskset import Task  # noqa: E402

GENRES = [("science fiction", "Science fiction"), ("cooking", "Cooking"), ("history", "History")]


def script(genre: str) -> list[Any]:
    return [
        [{"click": {"text": "Catalog"}}],
        [{"click": {"text": genre}}],
        [{"done": {"text": "the cheapest one", "success": True}}],
    ]


def tasks(n: int) -> list[Task]:
    return [
        Task(
            id=f"bench--{i}",
            site="Acme Books",
            question=f"Find the cheapest {GENRES[i % 3][0]} book on Acme Books (run {i}).",
            start_url="{site}/shop/index.html",
        )
        for i in range(n)
    ]


def agent_for(task: Task) -> ScriptedLLM:
    return ScriptedLLM(script(GENRES[int(task.id.rsplit("-", 1)[1]) % 3][1]))


async def bare_runs(n: int, base: str, chromium: str, scratch: Path) -> list[float]:
    """The floor: the same scripted runs through browser-use alone."""
    from browser_use import Agent

    times = []
    for i in range(n):
        profile = make_browser_profile(scratch / f"bare-{i}", executable_path=chromium)
        agent: Agent[Any, Any] = Agent(
            task="Find the cheapest book",
            llm=ScriptedLLM(script(GENRES[i % 3][1])),
            browser_profile=profile,
            use_judge=False,
            enable_signal_handler=False,
            initial_actions=[{"navigate": {"url": f"{base}/shop/index.html", "new_tab": False}}],
        )
        started = time.perf_counter()
        await agent.run(max_steps=6)
        times.append(time.perf_counter() - started)
        shutil.rmtree(agent.agent_directory, ignore_errors=True)
    return times


async def eval_run(
    n: int, arms: tuple[str, ...], concurrency: int, base: str, chromium: str, out: Path
) -> tuple[float, list[tuple[TaskResult, float]]]:
    judge = FunctionModel(lambda system, prompt: "The response names a book.\nSUCCESS", model_name="bench-judge")
    config = EvalConfig(
        out_dir=out, model=agent_for, judge=judge, arms=arms, concurrency=concurrency, browser=chromium, site=base, max_steps=6
    )
    finished: list[tuple[TaskResult, float]] = []
    started = time.perf_counter()
    await evaluate(tasks(n), config, on_result=lambda r: finished.append((r, time.perf_counter())))
    return time.perf_counter() - started, finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--arms", default="baseline,coach")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/webcoach-bench-eval"))
    args = parser.parse_args()
    arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    os.environ.setdefault("WEBCOACH_HOME", str(args.dir / "home"))
    chromium = find_chromium()
    print(f"{os.cpu_count()} cores; {args.tasks} tasks x arms {','.join(arms)}; zero-latency scripted agent and judge")

    with serve() as base:
        bare = asyncio.run(bare_runs(min(args.tasks, 4), base, chromium, args.dir / "bare"))
        floor = statistics.mean(bare)
        print(f"\nbare browser-use run (3 agent steps, no webcoach): mean {floor:.2f} s over {len(bare)} runs")
        print(
            f"\n{'concurrency':>11} {'runs':>5} {'wall s':>7} {'s/run':>6} {'runs/min':>8} {'agent run s':>11}  per arm (c=1: job s, job - bare s)"
        )
        for c in args.concurrency:
            wall, done = asyncio.run(eval_run(args.tasks, arms, c, base, chromium, args.dir / f"c{c}"))
            runs = [r for r, _ in done]
            line = f"{c:>11} {len(runs):>5} {wall:>7.1f} {wall / len(runs):>6.2f} {60 * len(runs) / wall:>8.1f} {statistics.mean(r.seconds for r in runs):>11.2f}"
            if c == 1:
                # one worker: a job runs from the previous result to its own
                stamps = [t for _, t in done]
                jobs = [b - a for a, b in itertools.pairwise(stamps)]
                per_arm = {arm: [j for (r, _), j in zip(done[1:], jobs, strict=True) if r.arm == arm] for arm in arms}
                line += "  " + "  ".join(
                    f"{arm} {statistics.mean(v):.2f} (+{statistics.mean(v) - floor:.2f})" for arm, v in per_arm.items() if v
                )
            errors = sum(r.error is not None for r in runs)
            print(line + (f"  [{errors} harness errors]" if errors else ""))
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
