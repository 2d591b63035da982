"""How often start advice names another site: WebVoyager tasks, a memory of runs on some of its sites, start advice
asked for tasks on sites memory has never seen and on sites it knows.

    python bench/bench_site_scope.py [--tasks PATH] [--embedder hashing|minilm]

Each stored episode is a rule-condensed run of one task: a route of three pages on the task's own site (a success)
or a failed click and a broken page there (a failure), labelled by the agent. Prints, for unseen and known sites, the
share of tasks that got start advice, and the share of advice texts holding a host of another site.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from webcoach.coach.coach import Coach
from webcoach.condenser.rules import condense_rules
from webcoach.condenser.trajectory import HttpFailure, Step, Trajectory
from webcoach.memory.store import EpisodeStore

TASKS = Path(__file__).parents[2] / "shared" / "data" / "webvoyager" / "WebVoyager_data.jsonl"
HOST = re.compile(r"\b((?:[a-z0-9-]+\.)+(?:com|org|net|edu|gov|io|co\.uk|de))\b", re.I)


def _site(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return ".".join(host.split(".")[-3:]) if host.endswith(".co.uk") else ".".join(host.split(".")[-2:])


def _run(task: dict[str, str], n: int) -> Trajectory:
    base = task["web"].rstrip("/")
    pages = [f"{base}/", f"{base}/search?q=item{n}", f"{base}/item/{n}"]
    if n % 3:
        steps = tuple(Step(index=i, action="goto", url=pages[max(0, i - 1)], target=p) for i, p in enumerate(pages))
        return Trajectory(
            source_kind="browser-use-history",
            steps=(*steps, Step(index=3, action="done", url=pages[-1], result=f"answer {n}")),
            claimed_success=True,
            final_answer=f"answer {n}",
        )
    return Trajectory(
        source_kind="browser-use-history",
        steps=(
            Step(index=0, action="goto", url="about:blank", target=pages[0]),
            Step(index=1, action="click", url=pages[0], target="#search-button", error="Element not found"),
            Step(index=2, action="goto", url=pages[0], target=pages[2], http_status=404),
        ),
        claimed_success=False,
        http_failures=(HttpFailure(url=pages[2], status=404),),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=Path, default=TASKS)
    parser.add_argument("--embedder", default="hashing")
    args = parser.parse_args()
    tasks = [json.loads(line) for line in args.tasks.read_text().splitlines() if line.strip()]
    sites = sorted({t["web_name"] for t in tasks})
    unseen = set(sites[::5])  # every fifth site is never stored
    stored = [t for i, t in enumerate(tasks) if t["web_name"] not in unseen and i % 2 == 0]
    asked = {
        "unseen site": [t for t in tasks if t["web_name"] in unseen][:80],
        "known site": [t for i, t in enumerate(tasks) if t["web_name"] not in unseen and i % 2 == 1][:80],
    }
    with tempfile.TemporaryDirectory() as tmp, EpisodeStore(Path(tmp) / "store", embedder=args.embedder) as store:
        store.add_many([condense_rules(_run(t, i), t["ques"]) for i, t in enumerate(stored)])
        coach = Coach(store)
        print(f"{store.count()} episodes over {len(sites) - len(unseen)} sites; {len(unseen)} sites never stored")
        for name, group in asked.items():
            given = foreign = 0
            for t in group:
                advice = asyncio.run(coach.advise(t["ques"], t["web"]))
                if advice is None:
                    continue
                given += 1
                text = advice.render() if hasattr(advice, "observations") else advice.text
                own = _site(t["web"])
                if any(_site("http://" + h) != own for h in HOST.findall(text)):
                    foreign += 1
            share = f"{foreign / given:.0%}" if given else "-"
            print(f"{name}: {len(group)} tasks, advice for {given} ({given / len(group):.0%}); naming another site: {share}")


if __name__ == "__main__":
    main()
