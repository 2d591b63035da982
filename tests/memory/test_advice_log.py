"""The advice log on both kinds of store: a JSONL file beside an embedded store, a side collection on a real Chroma
server. Entries come back newest first, a run's outcome settles its entries, a rating settles one, the counts it gives
follow the store's rule (each ended run credits each cited episode once), and a line cut short by a crash is skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from webcoach.memory.advice_log import AdviceEntry, tally
from webcoach.memory.store import EpisodeStore

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _exercise(store: EpisodeStore) -> None:
    log = store.advice_log()
    assert log.entries() == []
    a = log.record(AdviceEntry(run="r1", at=T0, site="example.com", trigger="start", episode_ids=["e1"]))
    b = log.record(
        AdviceEntry(run="r1", at=T0 + timedelta(minutes=1), site="example.com", trigger="loop", episode_ids=["e1", "e2"])
    )
    c = log.record(AdviceEntry(run="r2", at=T0 + timedelta(minutes=2), site="other.org", trigger="start", episode_ids=["e2"]))
    assert [e.id for e in log.entries()] == [c.id, b.id, a.id]
    assert [e.id for e in log.entries(site="other.org")] == [c.id]
    assert {e.id for e in log.entries(episode="e2")} == {b.id, c.id}
    assert log.rate(c.id, helped=False) and not log.rate("adv-unknown", helped=True)
    assert log.settle(run="r1", outcome="success", run_episode="e9") == 2
    assert log.settle(run="r1", outcome="failure") == 0  # settled once
    entries = log.entries()
    assert {(e.id, e.outcome, e.rated) for e in entries} == {
        (a.id, "success", False),
        (b.id, "success", False),
        (c.id, "failure", True),
    }
    assert tally(entries) == {"e1": (1, 0), "e2": (1, 1)}


def test_the_log_beside_an_embedded_store(tmp_path: Path) -> None:
    with EpisodeStore(tmp_path / "store", embedder="hashing") as store:
        _exercise(store)
        path = tmp_path / "store" / "webcoach-advice-default.jsonl"
        assert path.stat().st_mode & 0o777 == 0o600
        with path.open("a") as f:
            f.write('{"advice": {"run": "r3", "ep')  # a crash mid-line
        assert len(store.advice_log().entries()) == 3
        store.advice_log().record(AdviceEntry(run="r4", episode_ids=["e1"]))  # the next write starts a line of its own
        assert len(store.advice_log().entries()) == 4
    with EpisodeStore(tmp_path / "store", embedder="hashing") as again:  # it outlives the process's store object
        assert len(again.advice_log().entries()) == 4


@pytest.mark.slow
def test_the_log_on_a_chroma_server(chroma_server: tuple[str, Any]) -> None:
    with EpisodeStore(url=chroma_server[0], embedder="hashing") as store:
        _exercise(store)
        assert store.namespaces() == ["default"]  # the log's side collection is not a namespace
