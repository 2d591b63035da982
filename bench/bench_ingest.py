"""`ingest` of N log files against `memory import` of the same N episodes (target: ratio <= 3 at 300).

    python bench/bench_ingest.py [--files 300] [--rounds 7] [--mixed]

By default the files are browser-use histories; `--mixed` cycles through real logs of every kind (Playwright traces,
HARs, browser-use histories from ../shared/data/reallogs, beside the repository), each copy made a distinct run.

Each round makes fresh stores and runs both in a random order; prints each one's median and spread, the ratio of
medians, and the median and range of each round's own ratio. Both go through the library as the CLI does (ingest_files / EpisodeStore.import_), hashing embedder."""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

from webcoach.memory.ingest import ingest_files
from webcoach.memory.store import EpisodeStore

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
REALLOGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "reallogs" / "files"
MIXED = (
    "pw_mspw_remote-time-diff.zip",
    "har_mitm_chrome.har",
    "har_sitespeed_www-sitespeed-io.har",
    "har_mitm_safari.har",
    "bu_smartbrowser_v2.json",
    "bu_pentest_juiceshop.json",
)


def _distinct(source: Path, target: Path, i: int) -> None:
    """A copy of a real log that is a different run (a query string on its URLs), so it is a new episode."""

    def vary(node: object) -> object:
        if isinstance(node, str):
            return re.sub(r"^(https?://[^?#\s]+)", rf"\1?copy={i}", node)
        if isinstance(node, list):
            return [vary(x) for x in node]
        if isinstance(node, dict):
            return {k: vary(v) for k, v in node.items()}
        return node

    def lines(text: str) -> str:
        return "\n".join(json.dumps(vary(json.loads(line))) if line.strip() else line for line in text.splitlines())

    if source.suffix == ".zip":
        with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
            for name in src.namelist():
                data = src.read(name)
                out.writestr(name, lines(data.decode("utf-8")) if name.endswith((".trace", ".network")) else data)
    else:
        target.write_text(json.dumps(vary(json.loads(source.read_text(encoding="utf-8-sig")))), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--mixed", action="store_true", help="real traces, HARs and histories (needs ../shared)")
    args = parser.parse_args()
    sources = [REALLOGS / n for n in MIXED] if args.mixed else sorted(DATA.glob("browser_use_*.json"))
    if args.mixed and not all(p.is_file() for p in sources):
        raise SystemExit(f"--mixed needs the real logs in {REALLOGS}")
    rng = random.Random(1)
    times: dict[str, list[float]] = {"ingest": [], "import": []}
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = []
        for i in range(args.files):
            source = sources[i % len(sources)]
            if args.mixed:
                files.append(root / f"m{i}{source.suffix}")
                _distinct(source, files[-1], i)
                continue
            data = json.loads(source.read_text())
            data["task"] = f"Find book number {i} on Acme Books"  # every file a new episode
            files.append(root / f"h{i}.json")
            files[-1].write_text(json.dumps(data))
        task = "Find the page's answer" if args.mixed else None
        with EpisodeStore(root / "source", embedder="hashing") as store:
            added = [r for r in ingest_files(store, files, task=task) if r.status == "added"]
            if len(added) != args.files:
                dup = sorted({Path(r.file).suffix for r in ingest_files(store, files, task=task) if r.status != "added"})
                raise SystemExit(f"only {len(added)} of {args.files} copies were new episodes ({dup})")
            args.files = store.count()  # a run on two sites is two episodes
            store.export(root / "episodes.jsonl")
        for n in range(args.rounds):
            order = ["ingest", "import"]
            rng.shuffle(order)
            for name in order:
                with EpisodeStore(root / f"{name}-{n}", embedder="hashing") as store:
                    start = time.perf_counter()
                    if name == "ingest":
                        ingest_files(store, files, task=task)
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
    # Each round's two runs are back to back: their ratio cancels what the machine was doing then.
    paired = sorted(a / b for a, b in zip(times["ingest"], times["import"], strict=True))
    print(f"ingest/import ratio per round: median {statistics.median(paired):.2f} (min {paired[0]:.2f}, max {paired[-1]:.2f})")


if __name__ == "__main__":
    main()
