"""Tail latency under load: search with a URL against bare Chroma, and MCP calls against a store kept open.

    python bench/bench_tails.py [--sizes 1000 10000 100000] [--queries 300] [--load 2] [--mcp-size 10000] [--dir DIR]

A coached agent always shares the CPU with its browser, so every figure here is taken while `--load` busy processes
run beside the benchmark (pure-Python loops, as a browser's renderer keeps cores busy). Stores are bench_search.py's
(hashing embedder, 60 sites), cached under --dir.

1. Search p95 with a URL against bare Chroma, per store size, three variants in a random order per query:
     search     EpisodeStore.search(task, url, k): the site's own searched exactly on one BLAS thread (site_cache.py)
     threaded   the same with numpy's BLAS left to its default thread count (what search did before)
     bare       collection.query(n_results=k, include=metadatas+distances) with the same vector
   Target: search p95 within 1.5x bare p95.
2. MCP get_advice and search_memory (hooks/mcp_tools.py, in process, no transport) at --mcp-size:
     warm       the server as it runs: the store kept between calls (memory/keeper.py)
     kept-open  the same calls on a store opened once and never given back
     per-call   the store opened and closed for every call (what the server did before)
   Target: warm within 2x kept-open."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_search import ISOLATED, episodes, isolated, make_episode
from webcoach.hooks.mcp_tools import ServerOptions, WebcoachMCP
from webcoach.memory import site_cache
from webcoach.memory.store import EpisodeStore, query_text

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def spin(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


@contextlib.contextmanager
def load(n: int) -> Iterator[None]:
    stop = multiprocessing.Event()
    procs = [multiprocessing.Process(target=spin, args=(stop,), daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    try:
        time.sleep(0.5)
        yield
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=5)


def pcts(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000


def build(folder: Path, size: int) -> None:
    with EpisodeStore(folder, embedder="hashing", namespace="bench") as store:
        have = store.count()
        if have < size:
            store.add_many(episodes(have, size - len(ISOLATED), NOW))
            store.add_many(isolated(NOW))


def search_tails(folder: Path, queries: int, k: int) -> dict[str, tuple[float, float]]:
    rng = random.Random(7)
    probes = [make_episode(rng, -i, NOW) for i in range(queries)]
    threaded = contextlib.nullcontext
    with EpisodeStore(folder, embedder="hashing", namespace="bench", read_only=True) as store:
        for p in probes[:60]:  # every site's vectors read once (the first search on a site is bench_search's business)
            store.search(p.task, str(p.start_url), k=k)
        times: dict[str, list[float]] = {"search": [], "threaded": [], "bare": []}
        one_thread = site_cache._one_blas_thread

        def unlimited() -> bool:
            site_cache._one_blas_thread = threaded  # type: ignore[assignment]
            return True

        def limited() -> bool:
            site_cache._one_blas_thread = one_thread
            return True

        try:
            for p in probes:
                task, url = p.task.rsplit(" (#", 1)[0], str(p.start_url)
                vector = store.embedder.embed([query_text(task, url)])
                variants: dict[str, Callable[[], object]] = {
                    "search": lambda t=task, u=url: (limited(), store.search(t, u, k=k)),  # type: ignore[misc]
                    "threaded": lambda t=task, u=url: (unlimited(), store.search(t, u, k=k)),  # type: ignore[misc]
                    "bare": lambda v=vector: store._col.query(  # type: ignore[misc]
                        query_embeddings=v, n_results=k, include=["metadatas", "distances"]
                    ),
                }
                names = list(variants)
                rng.shuffle(names)
                for name in names:
                    start = time.perf_counter()
                    variants[name]()
                    times[name].append(time.perf_counter() - start)
        finally:
            limited()
    return {name: pcts(samples) for name, samples in times.items()}


class BenchMCP(WebcoachMCP):
    def __init__(self, folder: Path, idle_s: float) -> None:
        self.folder = folder
        super().__init__(ServerOptions(namespace="bench", embedder="hashing", store_idle_s=idle_s))

    def open_store(self, create: bool = False) -> EpisodeStore:
        return EpisodeStore(self.folder, namespace="bench", embedder="hashing", read_only=not create, lock_wait_s=5)


async def mcp_calls(mcp: WebcoachMCP, calls: int, gap_s: float) -> dict[str, list[float]]:
    rng = random.Random(11)
    times: dict[str, list[float]] = {"get_advice": [], "search_memory": []}
    for i in range(calls):
        p = make_episode(rng, -i, NOW)
        task, url = p.task.rsplit(" (#", 1)[0], str(p.start_url)
        start = time.perf_counter()
        await mcp.get_advice(task, url, None, f"session-{i}")
        times["get_advice"].append(time.perf_counter() - start)
        start = time.perf_counter()
        await mcp.search_memory(task, url, 5)
        times["search_memory"].append(time.perf_counter() - start)
        await asyncio.sleep(gap_s)  # an agent's step between calls
    return times


def mcp_tails(folder: Path, calls: int, gap_s: float) -> dict[str, dict[str, tuple[float, float]]]:
    out: dict[str, dict[str, tuple[float, float]]] = {}
    kept = BenchMCP(folder, idle_s=3600)
    held = kept._keeper.acquire()  # never given back while it runs
    try:
        out["kept-open"] = {k: pcts(v) for k, v in asyncio.run(mcp_calls(kept, calls, gap_s)).items()}
        warm = BenchMCP(folder, idle_s=60)
        out["warm"] = {k: pcts(v) for k, v in asyncio.run(mcp_calls(warm, calls, gap_s)).items()}
        warm.close()
    finally:
        kept._keeper.release()
        kept.close()
        del held
    per_call = BenchMCP(folder, idle_s=0)
    out["per-call"] = {k: pcts(v) for k, v in asyncio.run(mcp_calls(per_call, max(20, calls // 5), gap_s)).items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--load", type=int, default=2, help="busy processes beside the benchmark")
    parser.add_argument("--mcp-size", type=int, default=10_000)
    parser.add_argument("--mcp-calls", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between MCP calls")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/webcoach-bench"))
    args = parser.parse_args()
    for size in sorted({*args.sizes, args.mcp_size}):
        build(args.dir / f"n{size}", size)
    print(f"{args.load} busy processes beside the benchmark on {os.cpu_count()} cores; k={args.k}; times in ms")
    with load(args.load):
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'size':>7} | {'search p50':>10} {'p95':>6} | {'threaded p50':>12} {'p95':>6} | {'bare p50':>8} {'p95':>6} | "
              f"{'p95 search/bare':>15} {'threaded/bare':>13}")  # fmt: skip
        for size in args.sizes:
            r = search_tails(args.dir / f"n{size}", args.queries, args.k)
            print(
                f"{size:>7} | {r['search'][0]:>10.2f} {r['search'][1]:>6.2f} | {r['threaded'][0]:>12.2f} "
                f"{r['threaded'][1]:>6.2f} | {r['bare'][0]:>8.2f} {r['bare'][1]:>6.2f} | "
                f"{r['search'][1] / r['bare'][1]:>15.2f} {r['threaded'][1] / r['bare'][1]:>13.2f}",
                flush=True,
            )
        m = mcp_tails(args.dir / f"n{args.mcp_size}", args.mcp_calls, args.gap)
        print(f"\nMCP calls at {args.mcp_size} episodes ({args.mcp_calls} of each; p50 / p95 ms)")
        for tool in ("get_advice", "search_memory"):
            cells = "  ".join(
                f"{name} {m[name][tool][0]:.1f} / {m[name][tool][1]:.1f}" for name in ("warm", "kept-open", "per-call")
            )
            ratio = m["warm"][tool][1] / m["kept-open"][tool][1]
            print(f"{tool:>14}: {cells}  | p95 warm/kept-open {ratio:.2f}")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
