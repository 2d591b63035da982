"""Search latency, disk and isolated-site recall of EpisodeStore on embedded Chroma with the hashing embedder.

    python bench/bench_search.py [--sizes 1000 10000 100000] [--queries 200] [--k 5] [--dir /tmp/webcoach-bench] [--fresh]

For each store size: add_many throughput (batches of 500, from the run that built the store), disk per episode, then
per query three variants in a random order (so caches and load from other processes favour none):
  search   EpisodeStore.search(task, url, k): embed, nearest `overfetch` + the site's own when needed, rank, decode k
  bare     collection.query(query_embeddings=<same vector>, n_results=k, include=metadatas+distances)
  embed    embedding the query text alone
p50/p95 of each and the ratio of medians search/bare (target <= 1.5). Queries name one of the 60 sites in memory; the
first search on each site (which reads that site's vectors into memory, site_cache.py) is timed apart, before the rest.
Two more sets, each against its own bare query: the same tasks with no URL, and with URLs of sites memory never saw.
Isolated recall: two episodes of a site seen nowhere else are planted in every store; are they the top hits for a
query on their site, reworded? Stores are cached under --dir between runs (100k takes minutes to build on 2 cores)."""

from __future__ import annotations

import argparse
import json
import os
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


ISOLATED = [("Renew the passport of a minor online", "https://www.lonely-passports.example/renew"),
            ("Check the renewal status of a child's passport", "https://www.lonely-passports.example/status")]  # fmt: skip


def isolated(now: datetime) -> list[Episode]:
    return [
        Episode(
            id=content_hash(task, url)[:24],
            task=task,
            start_url=url,
            summary=f"did: {task}",
            created_at=now,
            source_kind="bench",
            content_hash=content_hash(task, url),
        )
        for task, url in ISOLATED
    ]


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name != "ingest.json")


def run_variants(variants: dict[str, Callable[[], object]], rng: random.Random, times: dict[str, list[float]]) -> None:
    names = list(variants)
    rng.shuffle(names)
    for name in names:
        start = time.perf_counter()
        variants[name]()
        times[name].append(time.perf_counter() - start)


def bench(size: int, root: Path, queries: int, k: int, now: datetime) -> dict[str, float]:
    folder = root / f"n{size}"
    sidecar = folder / "ingest.json"
    store = EpisodeStore(folder, embedder="hashing", namespace="bench")
    try:
        have = store.count()
        ingest: dict[str, float] = json.loads(sidecar.read_text()) if sidecar.exists() and have >= size else {}
        if have < size:
            start = time.perf_counter()
            store.add_many(episodes(have, size - len(ISOLATED), now))
            store.add_many(isolated(now))
            elapsed = time.perf_counter() - start
            ingest = {"ingested": size - have, "ingest_s": elapsed, "ingest_per_s": (size - have) / elapsed}
            sidecar.write_text(json.dumps(ingest))
        collection = store._collection  # the same collection the store searches, for the bare baseline
        rng = random.Random(10_000_000 + size)
        probes = [make_episode(rng, -i, now) for i in range(queries)]
        known: list[tuple[str, str | None]] = [(p.task.rsplit(" (#", 1)[0], str(p.start_url)) for p in probes]
        unseen: list[tuple[str, str | None]] = [
            (task, f"https://www.never-seen-{i}.example/") for i, (task, _) in enumerate(known)
        ]
        first: list[float] = []
        for site_url in SITES:  # the first search on each site reads its vectors: timed apart
            start = time.perf_counter()
            store.search("find the opening hours", site_url, k=k)
            first.append(time.perf_counter() - start)
        result: dict[str, float] = {"size": float(store.count()), **ingest}
        result["first_p50"], result["first_p95"] = percentiles(first)
        result["kb_per_episode"] = disk_bytes(folder) / store.count() / 1024
        no_url: list[tuple[str, str | None]] = [(task, None) for task, _ in known]
        for label, texts in (("", known), ("nourl_", no_url), ("new_", unseen)):
            times: dict[str, list[float]] = {"search": [], "bare": [], "embed": []}
            for task, url in texts:
                vector = store.embedder.embed([query_text(task, url)])
                variants: dict[str, Callable[[], object]] = {
                    "search": lambda t=task, u=url: store.search(t, u, k=k),  # type: ignore[misc]
                    "bare": lambda v=vector: collection.query(  # type: ignore[misc]
                        query_embeddings=v, n_results=k, include=["metadatas", "distances"]
                    ),
                    "embed": lambda t=task, u=url: store.embedder.embed([query_text(t, u)]),  # type: ignore[misc]
                }
                run_variants(variants, rng, times)
            for name, samples in times.items():
                result[f"{label}{name}_p50"], result[f"{label}{name}_p95"] = percentiles(samples)
            result[f"{label}ratio"] = statistics.median(times["search"]) / statistics.median(times["bare"])
        planted = {e.id for e in isolated(now)}
        found = 0
        for task, url in ISOLATED:
            top = {h.episode.id for h in store.search(task.replace("passport", "travel document"), url, k=2)}
            found += len(top & planted)
        result["isolated_found"] = found / (len(ISOLATED) * len(planted))
        return result
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/webcoach-bench"))
    parser.add_argument("--fresh", action="store_true", help="delete cached stores first")
    args = parser.parse_args()
    if args.fresh and args.dir.exists():
        shutil.rmtree(args.dir)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} cores; k={args.k}; times in ms; ratio = median search / median bare")
    print(f"{'size':>7} {'add/s':>6} {'KB/ep':>6} | {'search p50':>10} {'p95':>6} | {'bare p50':>8} {'p95':>6} | "
          f"{'ratio':>5} | {'no URL p50':>10} {'p95':>6} {'ratio':>5} | {'new site p50':>12} {'p95':>6} {'ratio':>5} | "
          f"{'1st on site p50':>15} {'p95':>6} | {'embed':>5} | isolated found")  # fmt: skip
    for size in args.sizes:
        r = bench(size, args.dir, args.queries, args.k, now)
        print(
            f"{int(r['size']):>7} {r.get('ingest_per_s', float('nan')):>6.0f} {r['kb_per_episode']:>6.2f} | "
            f"{r['search_p50']:>10.2f} {r['search_p95']:>6.2f} | {r['bare_p50']:>8.2f} {r['bare_p95']:>6.2f} | "
            f"{r['ratio']:>5.2f} | {r['nourl_search_p50']:>10.2f} {r['nourl_search_p95']:>6.2f} {r['nourl_ratio']:>5.2f} | "
            f"{r['new_search_p50']:>12.2f} {r['new_search_p95']:>6.2f} {r['new_ratio']:>5.2f} | "
            f"{r['first_p50']:>15.2f} {r['first_p95']:>6.2f} | {r['embed_p50']:>5.2f} | {r['isolated_found']:.0%}",
            flush=True,
        )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
