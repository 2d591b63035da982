"""Retrieval quality on WebVoyager's real task texts, for both embedders.

    python bench/bench_relevance.py [--tasks PATH/WebVoyager_data.jsonl] [--model-dir DIR]

WebVoyager (643 tasks over 15 sites): every other task of each site is stored as an episode (task + site URL), the
rest are queries. Figures: same-site top-1 WITH the query's URL (target >= 0.99), site-precision@5 WITHOUT a URL
(the share of the top 5 from the query's site; target >= 0.85 for MiniLM).
Many sites, few episodes: 300 made-up sites get 1-5 stored WebVoyager tasks each (drawn at random, so a site's tasks
say nothing about it) and one held-out query each: same-site top-1 with the URL (target >= 0.99), which only the
site-first retrieval can meet. MiniLM figures need its files (--model-dir or WEBCOACH_EMBED_MODEL_DIR); else skipped."""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from webcoach.condenser.episode import Episode, content_hash
from webcoach.memory.embed import find_model_dir
from webcoach.memory.store import EpisodeStore

SHARED = Path(__file__).resolve().parents[2] / "shared"
NOW = datetime(2026, 11, 20, tzinfo=UTC)


def episode(task: str, url: str, salt: str) -> Episode:
    digest = content_hash(task, f"{url}|{salt}")
    return Episode(
        id=digest[:24], task=task, start_url=url, summary=task, created_at=NOW, source_kind="bench", content_hash=digest
    )


def webvoyager(tasks: list[dict[str, str]], embedder: str, tmp: Path) -> tuple[float, float, float]:
    stored: list[dict[str, str]] = []
    queries: list[dict[str, str]] = []
    by_site: dict[str, list[dict[str, str]]] = {}
    for t in tasks:
        by_site.setdefault(t["web_name"], []).append(t)
    for items in by_site.values():
        for i, t in enumerate(items):
            (stored if i % 2 == 0 else queries).append(t)
    with EpisodeStore(tmp / f"wv-{embedder}", embedder=embedder) as store:
        store.add_many(episode(t["ques"], t["web"], t["id"]) for t in stored)
        site_of = {e.id: t["web_name"] for t, e in ((t, episode(t["ques"], t["web"], t["id"])) for t in stored)}
        firsts = [store.search(q["ques"], q["web"], k=1, now=NOW)[0] for q in queries]
        # Google Search, Maps and Flights are one site (google.com): the promise is the site, the name is stricter.
        top1 = sum(h.same_site for h in firsts)
        named = sum(site_of[h.episode.id] == q["web_name"] for h, q in zip(firsts, queries, strict=True))
        p5 = 0
        for q in queries:
            p5 += sum(site_of[h.episode.id] == q["web_name"] for h in store.search(q["ques"], k=5, now=NOW))
    return top1 / len(queries), named / len(queries), p5 / (5 * len(queries))


def many_sites(tasks: list[dict[str, str]], embedder: str, tmp: Path, sites: int = 300) -> float:
    rng = random.Random(7)
    stored: list[Episode] = []
    queries: list[tuple[str, str]] = []
    for s in range(sites):
        url = f"https://www.site{s:03d}-{rng.choice(['shop', 'news', 'travel', 'docs', 'bank'])}.example/"
        picks = rng.sample(tasks, rng.randint(1, 5) + 1)
        stored += [episode(t["ques"], url, f"{s}-{i}") for i, t in enumerate(picks[1:])]
        queries.append((picks[0]["ques"], url))
    with EpisodeStore(tmp / f"many-{embedder}", embedder=embedder) as store:
        store.add_many(stored)
        hits = [store.search(task, url, k=1, now=NOW)[0] for task, url in queries]
    return sum(h.same_site for h in hits) / len(hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    packaged = Path(__file__).resolve().parents[1] / "tasks" / "data" / "webvoyager" / "WebVoyager_data.jsonl"
    default = packaged if packaged.is_file() else SHARED / "data" / "webvoyager" / "WebVoyager_data.jsonl"
    parser.add_argument("--tasks", type=Path, default=default)
    parser.add_argument("--model-dir", type=Path, default=SHARED / "models" / "all-MiniLM-L6-v2" / "onnx")
    args = parser.parse_args()
    tasks = [json.loads(line) for line in args.tasks.read_text().splitlines() if line.strip()]
    os.environ.setdefault("WEBCOACH_EMBED_MODEL_DIR", str(args.model_dir))
    os.environ["WEBCOACH_EMBED_DOWNLOAD"] = "0"
    embedders = ["hashing"] + (["minilm"] if find_model_dir() else [])
    print(f"{len(tasks)} WebVoyager tasks; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{'embedder':<9} | {'WebVoyager same-site top-1 (URL)':>40} | {'site-precision@5 (no URL)':>25} | {'many sites top-1':>16} | s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in embedders:
            start = time.perf_counter()
            top1, named, p5 = webvoyager(tasks, name, Path(tmp))
            many = many_sites(tasks, name, Path(tmp))
            print(
                f"{name:<9} | {top1:>20.3f} ({named:.3f} same web_name) | {p5:>25.3f} | {many:>16.3f} | {time.perf_counter() - start:.0f}",
                flush=True,
            )
    if "minilm" not in embedders:
        print(f"minilm skipped: no model files in {args.model_dir}")


if __name__ == "__main__":
    main()
