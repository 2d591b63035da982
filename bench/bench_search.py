"""Search latency and ingest throughput of EpisodeStore on embedded Chroma with the hashing embedder.

    python bench/bench_search.py [--sizes 1000 10000 100000] [--queries 200] [--dir /tmp/webcoach-bench] [--fresh]

For each store size: add_many throughput (episodes/s, batches of 500), then ~200 queries timed three ways on the same
collection in the same run, interleaved so load from other processes hits all three alike:
  search   EpisodeStore.search(task, url, k=5): embed the query, over-fetch 32, parse, re-rank
  bare     collection.query(query_embeddings=<same vector>, n_results=32, include=metadatas+distances)
  embed    embedding one query text
Target: search p95 < 20 ms at 100k and search <= 2 x (bare + embed). Stores are kept under --dir and topped up on later
runs (ingest figures of a reused store come from the run that built it)."""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from webcoach.condenser.episode import Episode, Outcome, content_hash, domain_of
from webcoach.memory.store import EpisodeStore, query_text

SITES = [f"https://www.{name}.{tld}/" for name in ("allrecipes", "amazon", "github", "booking", "espn", "coursera",
         "bbc", "apple", "arxiv", "cambridge", "google", "huggingface", "wolframalpha", "imdb", "ebay", "reddit",
         "wikipedia", "zillow", "kayak", "target") for tld in ("com", "org", "co.uk")]  # fmt: skip
VERBS = ["find", "search for", "buy", "compare", "book", "look up", "list", "check", "download", "subscribe to", "review"]
THINGS = ["a vegetarian lasagna recipe", "the cheapest flight to Paris", "a used road bike", "the latest paper on diffusion",
          "a two-bedroom apartment", "tickets for Saturday's game", "a python course for beginners", "the weather forecast",
          "the return policy", "a gift under 30 dollars", "the opening hours", "a hotel near the station", "the top story",
          "the pronunciation of 'quay'", "the integral of x sin x", "a dataset for sentiment analysis", "the box office"]  # fmt: skip
QUALIFIERS = ["with at least 4 stars", "sorted by price", "for next weekend", "in English", "under 500 dollars",
              "with free delivery", "published this year", "near Berlin", "for two adults", "with reviews", ""]  # fmt: skip


def make_episode(rng: random.Random, n: int, now: datetime) -> Episode:
    url = rng.choice(SITES)
    task = f"{rng.choice(VERBS)} {rng.choice(THINGS)} {rng.choice(QUALIFIERS)} (#{n})".replace("  ", " ")
    digest = content_hash(task, url)
    return Episode(
        id=digest[:24],
        task=task,
        start_url=url,
        domain=domain_of(url),
        outcome=rng.choice(list(Outcome)),
        outcome_by="agent",
        summary=f"The agent opened {url}, used the search box and went through the results to {task}.",
        key_steps=[f"go to {url}", "type the query into the search box", "open the second result", "read the details"],
        lessons=["the search box is faster than the menus", "close the cookie banner first"],
        step_count=rng.randint(3, 25),
        duration_s=rng.uniform(10, 300),
        created_at=now - timedelta(days=rng.uniform(0, 120)),
        source_kind="browser_use_history",
        content_hash=digest,
        helped=rng.randint(0, 3),
        hurt=rng.randint(0, 3),
    )


def episodes(start: int, stop: int, now: datetime) -> Iterator[Episode]:
    for n in range(start, stop):
        yield make_episode(random.Random(n), n, now)


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000


def timed(fn: Callable[..., object], *args: object, **kwargs: object) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def bench(size: int, root: Path, queries: int, now: datetime) -> dict[str, float]:
    folder = root / f"n{size}"
    sidecar = folder / "ingest.json"
    store = EpisodeStore(folder, embedder="hashing", namespace="bench")
    try:
        have = store.count()
        ingest: dict[str, float] = json.loads(sidecar.read_text()) if sidecar.exists() and have >= size else {}
        if have < size:
            start = time.perf_counter()
            store.add_many(episodes(have, size, now))
            elapsed = time.perf_counter() - start
            ingest = {"ingested": size - have, "ingest_s": elapsed, "ingest_per_s": (size - have) / elapsed}
            sidecar.write_text(json.dumps(ingest))
        collection = store._collection  # the same collection the store searches, for the bare baseline
        rng = random.Random(10_000_000 + size)
        probes = [make_episode(rng, -i, now) for i in range(queries)]
        texts = [(p.task.rsplit(" (#", 1)[0], p.start_url) for p in probes]
        for task, url in texts[:10]:  # warm caches and the HNSW index
            store.search(task, url)
        search_t, bare_t, embed_t = [], [], []
        for task, url in texts:
            vector = store.embedder.embed([query_text(task, url)])
            embed_t.append(timed(store.embedder.embed, [query_text(task, url)]))
            bare_t.append(timed(collection.query, query_embeddings=vector, n_results=32, include=["metadatas", "distances"]))
            search_t.append(timed(store.search, task, url, k=5))
        result = {"size": float(store.count()), **ingest}
        for name, samples in (("search", search_t), ("bare", bare_t), ("embed", embed_t)):
            result[f"{name}_p50"], result[f"{name}_p95"] = percentiles(samples)
        result["ratio_p50"] = result["search_p50"] / (result["bare_p50"] + result["embed_p50"])
        result["ratio_p95"] = result["search_p95"] / (result["bare_p95"] + result["embed_p95"])
        return result
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/webcoach-bench"))
    parser.add_argument("--fresh", action="store_true", help="delete cached stores first")
    args = parser.parse_args()
    if args.fresh and args.dir.exists():
        shutil.rmtree(args.dir)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    print(f"{'size':>7} {'ingest/s':>9} | {'search p50':>10} {'p95':>6} | {'bare p50':>8} {'p95':>6} | "
          f"{'embed p50':>9} {'p95':>6} | {'ratio p50':>9} {'p95':>5}   (ms; ratio = search / (bare + embed))")  # fmt: skip
    for size in args.sizes:
        r = bench(size, args.dir, args.queries, now)
        print(
            f"{int(r['size']):>7} {r.get('ingest_per_s', float('nan')):>9.0f} | {r['search_p50']:>10.2f} {r['search_p95']:>6.2f} | "
            f"{r['bare_p50']:>8.2f} {r['bare_p95']:>6.2f} | {r['embed_p50']:>9.2f} {r['embed_p95']:>6.2f} | "
            f"{r['ratio_p50']:>9.2f} {r['ratio_p95']:>5.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
