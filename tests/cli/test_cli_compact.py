"""`webcoach memory compact`: the embedded store's free space given back, episodes kept; one-line refusals."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.memory.store import EpisodeStore

HISTORIES = sorted((Path(__file__).parents[1] / "data").glob("browser_use_*.json"))
QUERY = "cheapest science fiction book"


def store_dir() -> Path:
    return Path(os.environ["WEBCOACH_HOME"]) / "chroma"


def ingested(runner: CliRunner) -> list[dict[str, object]]:
    result = runner.invoke(app, ["ingest", *map(str, HISTORIES), "--embedder", "hashing"])
    assert result.exit_code == 0, result.stderr
    listed = json.loads(runner.invoke(app, ["memory", "list", "--json"]).stdout)
    assert len(listed) == len(HISTORIES) > 1
    return listed


def forgotten_some(runner: CliRunner) -> list[str]:
    """1,200 more episodes added and 400 forgotten (free pages in both files); returns the ids kept."""
    from webcoach.condenser.episode import Episode, Outcome, content_hash

    listed = ingested(runner)
    more = []
    for n in range(1200):
        task = f"compare the prices of item {n} on the shop"
        digest = content_hash(task, str(n))
        more.append(
            Episode(
                id=digest[:16],
                task=task,
                start_url="https://shop.example.com/",
                domain="example.com",
                outcome=Outcome.SUCCESS,
                outcome_by="agent",
                summary=f"Did: {task}",
                key_steps=[task],
                lessons=["use the search box first"],
                step_count=3,
                duration_s=1.0,
                source_kind="test",
                content_hash=digest,
            )
        )
    with EpisodeStore() as store:
        store.add_many(more)
        for gone in more[:400]:
            store.forget(gone.id)
    return sorted([str(e["id"]) for e in listed] + [e.id for e in more[400:]])


def test_compact_shrinks_the_store_and_keeps_every_episode() -> None:
    runner = CliRunner()
    kept = forgotten_some(runner)
    top = json.loads(runner.invoke(app, ["memory", "search", QUERY, "--json"]).stdout)[0]["episode"]["id"]
    chroma_file = store_dir() / "chroma.sqlite3"
    before = chroma_file.stat().st_size

    result = runner.invoke(app, ["memory", "compact"])
    assert result.exit_code == 0, result.stderr
    printed = re.fullmatch(
        rf"compacted {re.escape(str(store_dir().resolve()))}: ([\d.]+) ([kMG]?B) -> ([\d.]+) \2\n", result.stdout
    )
    assert printed is not None, result.stdout
    assert float(printed[3]) < float(printed[1]) and chroma_file.stat().st_size < before

    result = runner.invoke(app, ["memory", "compact", "--json"])  # again: nothing more to give back, nothing lost
    assert result.exit_code == 0, result.stderr
    sizes = json.loads(result.stdout)
    assert sizes["location"] == str(store_dir().resolve()) and 0 < sizes["bytes_after"] <= sizes["bytes_before"]

    after = json.loads(runner.invoke(app, ["memory", "list", "--json", "--limit", "1000"]).stdout)
    assert sorted(e["id"] for e in after) == kept
    assert json.loads(runner.invoke(app, ["memory", "search", QUERY, "--json"]).stdout)[0]["episode"]["id"] == top


def test_compact_refuses_a_store_another_process_has_open(held_elsewhere: Callable[..., AbstractContextManager[int]]) -> None:
    runner = CliRunner()
    ingested(runner)
    with held_elsewhere() as pid:
        size = (store_dir() / "chroma.sqlite3").stat().st_size
        result = runner.invoke(app, ["memory", "compact"])
        assert result.exit_code == 1 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and f"another process (pid {pid})" in result.stderr
        assert (store_dir() / "chroma.sqlite3").stat().st_size == size


def test_compact_refuses_a_server() -> None:
    result = CliRunner().invoke(app, ["memory", "compact", "--chroma-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "operator" in result.stderr and "chroma vacuum --path" in result.stderr
