"""Coach overhead per agent step at 1k/10k/100k stored episodes, beside the agent's own step time in the same runs.

    python bench/bench_coach.py [--sizes 1000 10000 100000] [--runs 4] [--dir /tmp/webcoach-bench-coach] [--fresh]
                                [--cold-start]

A real browser-use Agent (Debian chromium, the local shop) driven by a zero-latency ScriptedLLM runs a 12-step task,
coached by the rule-based coach from an embedded store (hashing embedder) holding N synthetic episodes plus two episodes
about the shop, so the coach really speaks (start advice, a repeated error, a dead end). Measured per agent step:
  hook   wall time inside CoachingSession.before_step + after_step (what the coach adds to the step)
  step   the agent's own step time (browser-use's step metadata: state, LLM call, actions), hooks excluded
and, once per run, on_done (condense the run, credit the cited episodes; runs are not stored, so the stores stay as
they are). A zero-latency LLM makes agent steps far shorter than with a real model: the ratio is a worst case.
Target: hook p95 < 5% of the median agent step, and < 50 ms at 100k episodes.

Stores live under --dir/n<size> and are reused; a missing one is copied from bench_search.py's cache
(/tmp/webcoach-bench/n<size>, the same synthetic episodes) when there is one, else built with add_many (~2.5 min
for 100k)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_search import episodes as synthetic  # the search benchmark's episodes: its cached stores can be reused
from webcoach.coach.coach import Coach, CoachConfig
from webcoach.condenser.episode import Episode
from webcoach.condenser.rules import condense_rules
from webcoach.condenser.trajectory import Step, Trajectory
from webcoach.hooks.browser_session import find_chromium, make_browser_profile, offline_env
from webcoach.memory.store import EpisodeStore
from webcoach.tasks.site import SITES_DIR, serve

SEARCH_CACHE = Path("/tmp/webcoach-bench")
TASK = "Find the cheapest history book on Acme Books"
MISSING = "Element index 999 not available - page may have changed. Try refreshing browser state."


def script(shop: str) -> list[Any]:
    return [
        [{"navigate": {"url": f"{shop}/index.html"}}],
        [{"click": {"text": "Catalog"}}],
        [{"click": {"text": "Science fiction"}}],
        [{"click": {"text": "Foundation"}}],
        [{"go_back": {}}],
        [{"click": {"index": 999}}],  # the seeded failure's error -> same_error
        [{"navigate": {"url": f"{shop}/deals.html"}}],
        [{"navigate": {"url": f"{shop}/expired-deal.html"}}],  # the seeded dead end -> dead_end
        [{"go_back": {}}],
        [{"navigate": {"url": f"{shop}/catalog.html"}}],
        [{"click": {"text": "History"}}],
        [{"done": {"text": "The Guns of August", "success": True}}],
    ]


def shop_episodes(shop: str) -> list[Episode]:
    """Two past runs on this shop (its port changes per run, so they are added for the run and forgotten after)."""
    failed = Trajectory(
        source_kind="browser-use-history",
        steps=(
            Step(index=0, action="goto", url="about:blank", target=f"{shop}/index.html"),
            Step(index=1, action="click", url=f"{shop}/search.html", target="[999]", error=MISSING),
            Step(index=2, action="click", url=f"{shop}/deals.html", target="Last week's deal"),
            Step(index=3, action="back", url=f"{shop}/expired-deal.html"),
            Step(index=4, action="done", url=f"{shop}/deals.html", result="gave up"),
        ),
        claimed_success=False,
        final_answer="gave up",
    )
    success = Trajectory(
        source_kind="browser-use-history",
        steps=(
            Step(index=0, action="goto", url="about:blank", target=f"{shop}/index.html"),
            Step(index=1, action="click", url=f"{shop}/index.html", target="Catalog"),
            Step(index=2, action="click", url=f"{shop}/catalog.html", target="Cooking"),
            Step(index=3, action="done", url=f"{shop}/catalog-cooking.html", result="Salt Fat Acid Heat"),
        ),
        claimed_success=True,
        final_answer="Salt Fat Acid Heat",
    )
    return [
        condense_rules(failed, "Find the cheapest science fiction book on Acme Books"),
        condense_rules(success, "Find the cheapest cooking book on Acme Books"),
    ]


def open_store(size: int, root: Path, now: datetime) -> EpisodeStore:
    folder = root / f"n{size}"
    cached = SEARCH_CACHE / f"n{size}"
    if not folder.exists() and cached.exists():
        print(f"copying {cached} -> {folder}", flush=True)
        shutil.copytree(cached, folder, ignore=shutil.ignore_patterns("webcoach.lock", "ingest.json"))
    store = EpisodeStore(folder, embedder="hashing", namespace="bench")
    have = store.count()
    if have < size:
        print(f"adding {size - have} synthetic episodes to {folder}", flush=True)
        started = time.perf_counter()
        store.add_many(synthetic(have, size, now))
        print(f"  {size - have} in {time.perf_counter() - started:.0f}s", flush=True)
    return store


@dataclass(kw_only=True)
class Samples:
    hook: list[float] = field(default_factory=list)  # per step: before_step + after_step
    step: list[float] = field(default_factory=list)  # per step: the agent's own time
    done: list[float] = field(default_factory=list)  # per run: on_done
    advice: list[int] = field(default_factory=list)  # per run: interventions made


async def one_run(
    coach: Coach, shop: str, chromium: str, profile: Path, samples: Samples | None, *, warm_up: bool = True
) -> None:
    from browser_use import Agent
    from webcoach.hooks.browser_use import CoachingSession
    from webcoach.hooks.scripted import ScriptedLLM

    agent: Agent[Any, Any] = Agent(
        task=TASK,
        llm=ScriptedLLM(script(shop)),
        browser_profile=make_browser_profile(profile, executable_path=chromium),
        use_judge=False,
    )
    session = CoachingSession(coach, agent)
    hooks: list[float] = []

    async def before(a: Any) -> None:
        started = time.perf_counter()
        await session.before_step(a)
        hooks.append(time.perf_counter() - started)

    async def after(a: Any) -> None:
        started = time.perf_counter()
        await session.after_step(a)
        hooks[-1] += time.perf_counter() - started

    started = time.perf_counter()
    if warm_up:
        session.warm_up()  # as Coach.run does: the start retrieval overlaps the browser's start
    warming = time.perf_counter() - started
    history = await agent.run(max_steps=20, on_step_start=before, on_step_end=after)
    hooks[0] += warming
    started = time.perf_counter()
    await session.on_done(history)
    done = time.perf_counter() - started
    steps = [item.metadata.duration_seconds for item in history.history if item.metadata is not None]
    if len(steps) != len(hooks) or history.final_result() != "The Guns of August":
        raise RuntimeError(
            f"the scripted run went wrong: {len(steps)} steps, {len(hooks)} hook samples, {history.final_result()!r}"
        )
    if samples is not None:
        samples.hook.extend(hooks)
        samples.step.extend(steps)
        samples.done.append(done)
        samples.advice.append(len(session.given))


def pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] * 1000


async def bench(sizes: list[int], runs: int, root: Path, scratch: Path, *, warm_up: bool) -> None:
    chromium = find_chromium()
    now = datetime.now(UTC)
    config = CoachConfig(store_runs=False)  # keep the stores as they are; usefulness updates still run
    print(
        f"{'episodes':>8} {'steps':>5} | {'hook p50':>8} {'p95':>6} {'max':>6} | {'step p50':>8} {'p95':>6} | "
        f"{'p95 hook/p50 step':>17} | {'advice/run':>10} {'on_done':>7}   (ms)"
    )
    with serve(SITES_DIR) as base:
        shop = f"{base}/shop"
        for size in sizes:
            store = open_store(size, root, now)
            seeded = store.add_many(shop_episodes(shop))
            try:
                store.search(TASK, f"{shop}/index.html")  # open the vector index before timing
                coach = Coach(store, config=config)
                if size == sizes[0]:
                    await one_run(coach, shop, chromium, scratch / "profile-warmup", None)  # imports, first browser
                samples = Samples()
                for n in range(runs):
                    await one_run(coach, shop, chromium, scratch / f"profile-{size}-{n}", samples, warm_up=warm_up)
                count = store.count() - len(seeded)
            finally:
                for episode_id in seeded:
                    store.forget(episode_id)
                store.close()
            hook50, hook95, step50 = pct(samples.hook, 50), pct(samples.hook, 95), pct(samples.step, 50)
            print(
                f"{count:>8} {len(samples.hook):>5} | {hook50:>8.1f} {hook95:>6.1f} {max(samples.hook) * 1000:>6.1f} | "
                f"{step50:>8.0f} {pct(samples.step, 95):>6.0f} | {hook95 / step50:>16.1%} | "
                f"{statistics.mean(samples.advice):>10.1f} {statistics.median(samples.done) * 1000:>7.0f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--runs", type=int, default=4, help="agent runs per store size (12 steps each)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/webcoach-bench-coach"))
    parser.add_argument("--fresh", action="store_true", help="delete the stores under --dir first")
    parser.add_argument(
        "--cold-start", action="store_true", help="skip CoachingSession.warm_up: the first step waits for a whole search"
    )
    args = parser.parse_args()
    if args.fresh and args.dir.exists():
        shutil.rmtree(args.dir)
    args.dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="webcoach-bench-coach-") as tmp:
        scratch = Path(tmp)
        for key, value in offline_env(scratch / "browser-use-config").items():
            os.environ.setdefault(key, value)  # before browser_use is first imported
        tempfile.tempdir = str(scratch)  # browser-use's agent and download folders
        logging.getLogger("browser_use").setLevel(logging.ERROR)  # the scripted misclick is expected
        asyncio.run(bench(args.sizes, args.runs, args.dir, scratch, warm_up=not args.cold_start))


if __name__ == "__main__":
    main()
