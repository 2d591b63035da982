"""The MCP server's store life cycle (memory/keeper.py): kept open between calls, given back when idle, and released
by a call the client cancels (the MCP SDK's own client sends notifications/cancelled) or that fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from webcoach.condenser.episode import Episode, Outcome, content_hash, domain_of
from webcoach.memory.keeper import StoreKeeper
from webcoach.memory.store import EpisodeStore

WEBCOACH = str(Path(sys.executable).with_name("webcoach"))
SHOP = "https://shop.example.com/index.html"
TASK = "Find the cheapest science fiction paperback"


def episode(i: int) -> Episode:
    task = f"{TASK} ({i})"
    digest = content_hash(task, SHOP)
    return Episode(
        id=digest[:16],
        task=task,
        start_url=SHOP,
        domain=domain_of(SHOP),
        outcome=Outcome.SUCCESS,
        outcome_by="agent",
        summary=f"Did: {task}",
        key_steps=["open the shop", "search for science fiction", "sort by price"],
        lessons=["sort by price before opening items"],
        step_count=3,
        duration_s=10.0,
        source_kind="test",
        content_hash=digest,
    )


def exported(home: Path) -> set[str]:
    with EpisodeStore(home=home, read_only=True, lock_wait_s=15) as store, tempfile.TemporaryDirectory() as folder:
        store.export(Path(folder) / "out.jsonl")
        return {json.loads(line)["id"] for line in (Path(folder) / "out.jsonl").read_text().splitlines()}


async def test_a_cancelled_call_gives_the_store_back(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with EpisodeStore(home=home, embedder="hashing") as store:
        store.add_many([episode(i) for i in range(8)])
    before = exported(home)
    params = StdioServerParameters(command=WEBCOACH, args=["mcp", "--home", str(home)])
    async with Client(params) as c:
        held = EpisodeStore(home=home)  # the server's call waits for this process to give the store back
        try:
            with anyio.move_on_after(1.5) as scope:  # the client gives up: the SDK sends notifications/cancelled
                await c.call_tool("get_advice", {"task": TASK, "url": SHOP})
            assert scope.cancelled_caught
        finally:
            held.close()  # the cancelled call's thread now opens the store; it must give it back when idle
        # Before: the store stayed locked until the server stopped. Now another process gets it while the server runs.
        with EpisodeStore(home=home, lock_wait_s=15) as store:
            assert store.count() == len(before)
        found = await c.call_tool("search_memory", {"query": TASK, "url": SHOP})
        assert not found.is_error and found.structured_content is not None
        assert found.structured_content["total_episodes"] == len(before)
        bad = await c.call_tool("get_advice", {"task": TASK, "url": "not a url"})  # a failed call holds nothing either
        assert bad.is_error
        with EpisodeStore(home=home, lock_wait_s=15) as store:
            assert store.count() == len(before)
    assert exported(home) == before


def test_the_keeper_keeps_one_store_warm_and_closes_it_when_idle(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with EpisodeStore(home=home, embedder="hashing") as store:
        store.add(episode(0))
    opened: list[bool] = []

    def opener(write: bool) -> EpisodeStore:
        opened.append(write)
        return EpisodeStore(home=home, read_only=not write)

    keeper = StoreKeeper(opener, idle_s=0.3)
    try:
        with keeper.use() as first:
            assert first.read_only
        with keeper.use() as again:
            assert again is first  # warm: not opened again
        with keeper.use(write=True) as writer:  # the first write reopens it as a writer, which then serves reads
            writer.add(episode(1))
        with keeper.use() as reader:
            assert reader is writer and reader.count() == 2
        assert opened == [False, True]
        time.sleep(0.8)
        assert not keeper.is_open  # idle: given back
    finally:
        keeper.close()


def test_a_warm_store_is_given_back_between_calls_when_another_process_asks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with EpisodeStore(home=home, embedder="hashing") as store:
        store.add(episode(0))
    keeper = StoreKeeper(lambda write: EpisodeStore(home=home, read_only=not write), idle_s=600)
    try:
        with keeper.use() as store:
            assert store.count() == 1
        assert keeper.is_open  # warm, for the next call
        start = time.monotonic()
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "from webcoach.memory.store import EpisodeStore as S; print(S(read_only=True, lock_wait_s=20).count())",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "WEBCOACH_HOME": str(home)},
            timeout=60,
            check=False,
        )
        assert other.returncode == 0 and other.stdout.strip() == "1", other.stderr
        assert not keeper.is_open and time.monotonic() - start < 15  # asked for, not after the 600 s idle time
        with keeper.use() as store:  # the next call opens it again
            assert store.count() == 1
    finally:
        keeper.close()
