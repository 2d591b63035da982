"""A real Chroma server that stops answering (SIGSTOP), goes away, or is written to by several processes at once.
Nothing hangs: every call has a timeout, a dead server is one line, the coach stays silent, ingest stops at once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.coach.coach import Coach, CoachConfig
from webcoach.condenser.condense import condense
from webcoach.errors import StoreUnavailableError
from webcoach.memory.ingest import ingest_files
from webcoach.memory.store import EpisodeStore

DATA = Path(__file__).parents[1] / "data"
HISTORIES = sorted(DATA.glob("browser_use_*.json"))
TASK = "Find the cheapest science fiction book on Acme Books"
SHOP = "http://127.0.0.1:8765/shop/index.html"  # where the recorded histories ran: advice is scoped to a site


@contextmanager
def stopped(server: subprocess.Popen[Any]) -> Iterator[None]:
    """The server process frozen: it accepts connections (the kernel does) but never answers."""
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)


def test_a_stopped_server_is_one_line_within_the_timeout(chroma_server: tuple[str, Any]) -> None:
    url, server = chroma_server
    with EpisodeStore(url=url, embedder="hashing", timeout_s=1) as store:
        store.add(condense(HISTORIES[0], task=TASK))
        with stopped(server):
            for call in (lambda: store.add(condense(HISTORIES[1], task=TASK)), store.count, lambda: store.search(TASK)):
                started = time.monotonic()
                with pytest.raises(StoreUnavailableError, match=r"^cannot reach Chroma server at .*no answer in 1s") as err:
                    call()
                assert time.monotonic() - started < 5 and "\n" not in str(err.value)
        assert store.count() == 1  # and it works again once the server answers

    with stopped(server):
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError):
            EpisodeStore(url=url, embedder="hashing", timeout_s=1)
        assert time.monotonic() - started < 5
        result = CliRunner().invoke(app, ["memory", "stats", "--chroma-url", url], env={"WEBCOACH_CHROMA_TIMEOUT": "1"})
        assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1 and "no answer in 1s" in result.stderr


def test_the_coach_stays_silent_and_quick_on_a_stopped_server(chroma_server: tuple[str, Any]) -> None:
    url, server = chroma_server
    with EpisodeStore(url=url, embedder="hashing") as store:  # the store's own timeout stays long (15 s)
        store.add(condense(HISTORIES[0], task=TASK))
        coach = Coach(store, config=CoachConfig(timeout_s=1))
        assert asyncio.run(coach.advise(TASK, SHOP)) is not None
        with stopped(server):
            started = time.monotonic()
            assert asyncio.run(coach.advise(TASK, SHOP)) is None  # fails open, bounded by the coach's timeout_s
            assert time.monotonic() - started < 5


def test_ingest_stops_at_the_first_connection_failure(chroma_server: tuple[str, Any], tmp_path: Path) -> None:
    url, server = chroma_server
    done: list[Any] = []
    with EpisodeStore(url=url, embedder="hashing", timeout_s=1) as store, stopped(server):
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError):
            ingest_files(store, HISTORIES, task=TASK, on_done=done.append)
        assert done == [] and time.monotonic() - started < 5  # one timeout, not one per file
    server.terminate()
    server.wait(timeout=10)
    result = CliRunner().invoke(app, ["ingest", *map(str, HISTORIES), "--task", TASK, "--chroma-url", url])
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Connection refused" in result.stderr


@pytest.mark.slow
def test_a_fresh_namespace_being_written_can_be_searched(chroma_server: tuple[str, Any]) -> None:
    """Searches while other clients make the first writes to a new namespace: Chroma says "Error creating hnsw segment
    reader: Nothing found on disk" for a while (15 times in 3 rounds when this was written); never an error here."""
    url, _ = chroma_server
    base = condense(HISTORIES[0], task=TASK)
    for round_ in range(3):
        namespace = f"fresh-{round_}"
        EpisodeStore(url=url, namespace=namespace, embedder="hashing").close()

        def write(k: int, namespace: str = namespace) -> None:
            with EpisodeStore(url=url, namespace=namespace, embedder="hashing") as writer:
                for i in range(100):
                    writer.add(base.model_copy(update={"id": f"{k}-{i}", "task": f"{TASK} #{k}-{i}"}))

        writers = [threading.Thread(target=write, args=(k,)) for k in range(4)]
        with EpisodeStore(url=url, namespace=namespace, embedder="hashing") as reader:
            for w in writers:
                w.start()
            searches = 0
            while any(w.is_alive() for w in writers):
                reader.search(TASK, k=3)  # a StoreError before the fix
                searches += 1
            for w in writers:
                w.join()
            assert searches > 0 and len(reader.search(TASK, k=3)) == 3 and reader.count() == 400


WRITER = """
import json, sys
from webcoach.memory.ingest import ingest_files
from webcoach.memory.store import EpisodeStore
from pathlib import Path
with EpisodeStore(url=sys.argv[1], embedder="hashing") as store:
    results = ingest_files(store, [Path(p) for p in sys.argv[2:]], task="Find a cheap book")
print(json.dumps(sum(r.status == "added" for r in results)))
"""


@pytest.mark.slow
def test_concurrent_ingests_report_what_they_really_added(chroma_server: tuple[str, Any], tmp_path: Path) -> None:
    url, _ = chroma_server
    files = []
    base = json.loads(HISTORIES[0].read_text())
    for i in range(40):
        base["history"][0]["model_output"]["next_goal"] = f"variant {i}"
        path = tmp_path / f"h{i}.json"
        path.write_text(json.dumps(base))
        files.append(str(path))
    EpisodeStore(url=url, embedder="hashing").close()  # the namespace exists before the race
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, *files], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    added = [int(w.communicate(timeout=300)[0].strip().splitlines()[-1]) for w in writers]
    with EpisodeStore(url=url) as store:
        stored = store.count()
    assert sum(added) == stored, (added, stored)
