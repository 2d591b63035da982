"""Time parsing (and, where available, condensing) of a synthetic 2,000-action Playwright trace.

    python bench/bench_condense.py [--actions 2000] [--repeat 5]

The trace mimics what Playwright 1.65 writes (format 10): per action a before/after pair, log lines, before/action/after
DOM snapshots of a login-like page (so the password scan runs), and one trace.network entry per navigation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from webcoach.condenser.condense import condense
from webcoach.condenser.playwright_trace import parse_trace
from webcoach.condenser.redact import Redactor
from webcoach.memory.store import EpisodeStore

BASE = "http://127.0.0.1:8000/shop"
PAGES = ["index.html", "catalog.html", "login.html", "search.html?q=dune", "book-dune.html"]


def _html(page: str, value: str, target: bool) -> list[Any]:
    field: dict[str, str] = {"__playwright_value_": value, "id": "password", "type": "password"}
    if target:
        field["__playwright_target__"] = ""
    return [
        "HTML",
        {},
        ["HEAD", {}, ["BASE", {"href": f"{BASE}/{page}"}], ["TITLE", {}, page]],
        ["BODY", {}, ["H1", {}, "Acme Books"], *[["A", {"href": f"b{i}.html"}, f"Book {i}"] for i in range(30)],
         ["FORM", {}, ["INPUT", {"__playwright_value_": "", "id": "q", "type": "text"}], ["INPUT", field]]],
    ]  # fmt: skip


def synthesise(path: Path, actions: int) -> Path:
    wall, mono = 1_795_000_000_000.0, 1000.0
    trace = [{"version": 10, "type": "context-options", "browserName": "chromium", "wallTime": wall, "monotonicTime": mono}]
    network = []
    t, page = mono + 5, PAGES[0]
    for i in range(actions):
        call = f"call@{i}"
        kind = ("goto", "click", "fill", "press", "click")[i % 5]
        params: dict[str, Any] = {"timeout": 30000}
        if kind == "goto":
            page = PAGES[(i // 5) % len(PAGES)]
            params["url"] = f"{BASE}/{page}"
        elif kind == "fill" and i % 10 == 2:  # one password, typed again on every visit to the login form
            params.update(selector="#password", value="Secret-Pass-1")
        elif kind == "fill":
            params.update(selector="#q", value=f"query {i}")
        else:
            params.update(selector=f"a:nth-child({i % 30})", key="Enter") if kind == "press" else params.update(selector="#q")
        trace.append({"type": "before", "callId": call, "startTime": t, "class": "Frame", "method": kind, "params": params})
        for phase in ("before", "action", "after"):
            typed = kind == "fill" and i % 10 == 2 and phase != "before"
            value = "Secret-Pass-1" if typed else ""
            snap = {"callId": call, "phase": phase, "pageId": "page@1", "frameId": "frame@1", "frameUrl": f"{BASE}/{page}",
                    "html": _html(page, value, typed), "timestamp": t + 1, "wallTime": wall + t + 1 - mono,
                    "isMainFrame": True}  # fmt: skip
            trace.append({"type": "frame-snapshot", "snapshot": snap})
            if phase == "before":
                trace.append({"type": "log", "callId": call, "time": t + 2, "message": f'waiting for locator("{kind}")'})
        if kind == "goto":
            network.append({"type": "resource-snapshot", "snapshot": {
                "request": {"method": "GET", "url": f"{BASE}/{page}"}, "response": {"status": 404 if i % 50 == 0 else 200},
                "_frameref": "frame@1", "_monotonicTime": t + 3, "_resourceType": "document"}})  # fmt: skip
        trace.append({"type": "after", "callId": call, "endTime": t + 20})
        t += 25
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("trace.trace", "\n".join(json.dumps(e) for e in trace))
        z.writestr("trace.network", "\n".join(json.dumps(e) for e in network))
    return path


def _timed(fn: Any, repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return min(runs), statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ingest", type=int, default=300, help="histories to ingest end to end")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = synthesise(Path(tmp) / "trace.zip", args.actions)
        traj = parse_trace(path, Redactor())
        print(f"trace: {args.actions} actions, {path.stat().st_size / 1e6:.1f} MB zipped -> {len(traj.steps)} steps")
        best, median = _timed(lambda: parse_trace(path, Redactor()), args.repeat)
        print(f"parse_trace: best {best * 1000:.0f} ms, median {median * 1000:.0f} ms ({args.repeat} runs)")
        best, median = _timed(lambda: condense(path, task="Sign in and find a book"), args.repeat)
        print(f"condense (rule-based, parse included): best {best * 1000:.0f} ms, median {median * 1000:.0f} ms")
        ingest_throughput(Path(tmp), args.ingest)


def ingest_throughput(tmp: Path, n: int) -> None:
    """End-to-end ingest (read + condense + embed + store) of real browser-use histories, as `webcoach ingest` does it."""
    histories = sorted((Path(__file__).resolve().parents[1] / "tests" / "data").glob("browser_use_*.json"))
    if not histories:
        print("ingest: no history fixtures found")
        return
    with EpisodeStore(home=tmp / "home", embedder="hashing") as store:
        started = time.perf_counter()
        for i in range(n):
            # A different task per file makes every episode new, so nothing is deduplicated away.
            store.add(condense(histories[i % len(histories)], task=f"Find book number {i} on Acme Books"))
        elapsed = time.perf_counter() - started
        assert store.count() == n
    print(f"ingest (condense + store.add, one at a time): {n} episodes in {elapsed:.2f} s = {n / elapsed:.0f} episodes/s")


if __name__ == "__main__":
    main()
