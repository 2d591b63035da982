"""`ingest` of N browser-use history files against `memory import` of the same N episodes (target: ratio <= 3 at 300).

    python bench/bench_ingest.py [--files 300] [--rounds 5]

Each round makes fresh stores and runs both in a random order; prints each one's median and spread and the ratio of
medians. Both go through the library as the CLI does (ingest_files / EpisodeStore.import_), hashing embedder."""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from webcoach.memory.ingest import ingest_files
from webcoach.memory.store import EpisodeStore

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sources = sorted(DATA.glob("browser_use_*.json"))
    rng = random.Random(1)
    times: dict[str, list[float]] = {"ingest": [], "import": []}
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = []
        for i in range(args.files):
            data = json.loads(sources[i % len(sources)].read_text())
            data["task"] = f"Find book number {i} on Acme Books"  # every file a new episode
            files.append(root / f"h{i}.json")
            files[-1].write_text(json.dumps(data))
        with EpisodeStore(root / "source", embedder="hashing") as store:
            assert sum(r.status == "added" for r in ingest_files(store, files)) == args.files
            store.export(root / "episodes.jsonl")
        for n in range(args.rounds):
            order = ["ingest", "import"]
            rng.shuffle(order)
            for name in order:
                with EpisodeStore(root / f"{name}-{n}", embedder="hashing") as store:
                    start = time.perf_counter()
                    if name == "ingest":
                        ingest_files(store, files)
                    else:
                        store.import_(root / "episodes.jsonl")
                    times[name].append(time.perf_counter() - start)
                    assert store.count() == args.files
    for name, samples in times.items():
        print(
            f"{name:<7} {args.files} files: median {statistics.median(samples):.2f} s (min {min(samples):.2f}, max {max(samples):.2f})"
        )
    ratio = statistics.median(times["ingest"]) / statistics.median(times["import"])
    print(f"ingest/import ratio of medians: {ratio:.2f} ({args.files / statistics.median(times['ingest']):.0f} files/s ingested)")


if __name__ == "__main__":
    main()
