"""Batched ingest of real browser-use history files into a real Chroma store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from webcoach.memory.ingest import IngestResult, ingest_files
from webcoach.memory.store import EpisodeStore

DATA = Path(__file__).resolve().parents[1] / "data"


def histories(folder: Path, n: int) -> list[Path]:
    """n history files, each with its own task (so each is a new episode), from the real fixtures."""
    sources = sorted(DATA.glob("browser_use_*.json"))
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        data = json.loads(sources[i % len(sources)].read_text())
        data["task"] = f"Find book number {i} on Acme Books"
        path = folder / f"history-{i:03d}.json"
        path.write_text(json.dumps(data))
        out.append(path)
    return out


class CountingStore(EpisodeStore):
    """A real store that counts its existence queries and writes."""

    lookups = 0
    writes = 0

    def _stored(self, ids: Sequence[str]) -> set[str]:
        type(self).lookups += 1
        return super()._stored(ids)

    def add_batch(self, episodes: Sequence[object]) -> set[str]:  # type: ignore[override]
        type(self).writes += 1
        return super().add_batch(episodes)  # type: ignore[arg-type]


def test_files_are_stored_in_batches_with_one_lookup_each(tmp_path: Path) -> None:
    files = histories(tmp_path / "h", 250)
    bad = tmp_path / "h" / "broken.json"
    bad.write_text("{not json")
    CountingStore.writes = CountingStore.lookups = 0
    with CountingStore(tmp_path / "chroma", embedder="hashing") as store:
        results = ingest_files(store, [*files[:120], bad, files[0], *files[120:]], batch=100, flush_s=600)
        assert (CountingStore.writes, CountingStore.lookups) == (3, 3)
        assert store.count() == 250
    assert [r.file for r in results] == [str(p) for p in [*files[:120], bad, files[0], *files[120:]]]
    assert [r.status for r in results[119:123]] == ["added", "error", "duplicate", "added"]
    assert sum(r.status == "added" for r in results) == 250


def test_the_same_log_twice_in_one_batch_is_added_once(tmp_path: Path) -> None:
    (one,) = histories(tmp_path / "h", 1)
    with EpisodeStore(tmp_path / "chroma", embedder="hashing") as store:
        assert [r.status for r in ingest_files(store, [one, one])] == ["added", "duplicate"]
        assert [r.status for r in ingest_files(store, [one])] == ["duplicate"]


def test_an_interrupt_loses_nothing_reported_and_stores_what_was_condensed(tmp_path: Path) -> None:
    files = histories(tmp_path / "h", 160)
    reported: list[IngestResult] = []

    def ctrl_c_at(path: Path) -> None:
        if path == files[150]:
            raise KeyboardInterrupt

    with EpisodeStore(tmp_path / "chroma", embedder="hashing") as store:
        with pytest.raises(KeyboardInterrupt):
            ingest_files(store, files, batch=100, on_file=ctrl_c_at, on_done=reported.append)
        assert len(reported) == 150  # the first batch, then the 50 condensed before Ctrl-C, written on the way out
        assert all(store.contains(str(r.id)) for r in reported) and store.count() == 150


def test_slow_condensing_still_stores_every_few_seconds(tmp_path: Path) -> None:
    files = histories(tmp_path / "h", 4)
    CountingStore.writes = 0
    with CountingStore(tmp_path / "chroma", embedder="hashing") as store:
        ingest_files(store, files, batch=500, flush_s=0.0)  # every file is "late": each is written as it is condensed
        assert CountingStore.writes == 4 and store.count() == 4
