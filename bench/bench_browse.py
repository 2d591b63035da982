"""What `webcoach ui` and `memory list` cost on a big namespace: pages of episodes (unfiltered, deep, filtered), the
Sites view's summary of every episode, and reading an advice log.

    python bench/bench_browse.py [--size 20000] [--advice 5000] [--dir /tmp/webcoach-bench-browse]

Built with the hashing embedder (embedding is not what is measured); the store is cached under --dir between runs.
Each figure is the median of --repeats runs, in ms."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from webcoach.condenser.episode import Episode, Outcome, content_hash
from webcoach.memory.advice_log import AdviceEntry
from webcoach.memory.curate import EpisodeFilter, browse
from webcoach.memory.store import EpisodeStore
from webcoach.ui.data import site_summaries

NOW = datetime.now(UTC)


def episode(n: int) -> Episode:
    site = f"https://www.site{n % 200}.com/"
    digest = content_hash(f"task {n}", site)
    return Episode(
        id=digest[:16],
        task=f"Find item {n} on site {n % 200} and report its price",
        start_url=site,
        outcome=Outcome.SUCCESS if n % 3 else Outcome.FAILURE,
        outcome_by="agent",
        summary=f"Visited {site} and looked for item {n}.",
        key_steps=["open the start page", f"search for item {n}"],
        lessons=["use the search box first"] + (["the needle lesson"] if n == 7 else []),
        step_count=4,
        created_at=NOW - timedelta(hours=n),
        source_kind="bench",
        content_hash=digest,
    )


def timed(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--advice", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/webcoach-bench-browse"))
    args = parser.parse_args()
    path = args.dir / f"store-{args.size}"
    fresh = not path.exists()
    with EpisodeStore(path, embedder="hashing") as store:
        if fresh:
            start = time.perf_counter()
            store.add_many(episode(n) for n in range(args.size))
            print(f"built {args.size} episodes in {time.perf_counter() - start:.0f}s")
            log = store.advice_log()
            for n in range(args.advice):
                log.record(AdviceEntry(run=f"run-{n // 3}", site="example.com", episode_ids=[episode(n % args.size).id]))
        r = args.repeats
        print(f"{store.count()} episodes; medians of {r} (ms)")
        print(f"  first page, no filter        {timed(lambda: browse(store, EpisodeFilter(), limit=50), r):8.1f}")
        print(f"  page 100 (offset 4950)       {timed(lambda: browse(store, EpisodeFilter(), limit=50, cursor=4950), r):8.1f}")
        print(
            f"  first page, outcome=failure  {timed(lambda: browse(store, EpisodeFilter(outcome='failure'), limit=50), r):8.1f}"
        )
        print(f"  one site (1 in 200)          {timed(lambda: browse(store, EpisodeFilter(site='site5.com'), limit=50), r):8.1f}")
        print(f"  text found once (full scan)  {timed(lambda: browse(store, EpisodeFilter(text='needle'), limit=50), r):8.1f}")
        print(
            f"  the same, UI page budget     {timed(lambda: browse(store, EpisodeFilter(text='needle'), limit=50, budget=5000), r):8.1f}"
        )
        print(f"  Sites view (every episode)   {timed(lambda: site_summaries(store.episodes()), r):8.1f}")
        print(f"  advice log, {args.advice} entries    {timed(lambda: store.advice_log().entries(limit=500), r):8.1f}")


if __name__ == "__main__":
    main()
