"""`compact`: an embedded store's free space given back (Chroma's vacuum, then the record file's) on real Chroma."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from webcoach.condenser.episode import Episode, Outcome, content_hash, domain_of
from webcoach.errors import ConfigError, StoreError, StoreLockedError
from webcoach.memory import store as store_module
from webcoach.memory.store import CHROMA_FILE, EpisodeStore, compact

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SITES = ["https://shop.example.com/", "https://books.example.org/", "https://flights.example.net/"]
QUERIES = ["buy item 17 in the shop", "find the cheapest book 203", "book flight 411 to Paris"]


def episode(n: int) -> Episode:
    url = SITES[n % len(SITES)]
    task = ["buy item {n} in the shop", "find the cheapest book {n}", "book flight {n} to Paris"][n % 3].format(n=n)
    digest = content_hash(task, url)
    return Episode(
        id=digest[:16],
        task=task,
        start_url=url,
        domain=domain_of(url),
        outcome=Outcome.SUCCESS if n % 4 else Outcome.FAILURE,
        outcome_by="agent",
        summary=f"Did: {task}",
        key_steps=["open the start page", f"work on: {task}"],
        lessons=[f"lesson {n}: use the search box first"],
        step_count=3,
        duration_s=12.5,
        created_at=NOW - timedelta(hours=n),
        source_kind="test",
        content_hash=digest,
    )


def files(root: Path) -> dict[str, tuple[int, int]]:
    """path -> (size, mtime in ns) of every file in the store directory."""
    found = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            st = os.stat(Path(folder) / name)
            found[str(Path(folder, name).relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return found


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    """A store of 900 episodes of which 300 were forgotten: (directory, ids kept, top hit per query)."""
    path = tmp_path / "chroma"
    episodes = [episode(n) for n in range(900)]
    with EpisodeStore(path, embedder="hashing") as store:
        store.add_many(episodes)
        for gone in episodes[::3]:
            assert store.forget(gone.id)
        kept = sorted(e.id for e in episodes[1::3] + episodes[2::3])
        tops = [store.search(q, k=1)[0].episode.id for q in QUERIES]
    return path, kept, tops


def test_compact_shrinks_the_store_and_keeps_every_episode(filled: tuple[Path, list[str], list[str]]) -> None:
    path, kept, tops = filled
    before = sum(size for size, _ in files(path).values())
    chroma_before = (path / CHROMA_FILE).stat().st_size
    done = compact(path)
    after = sum(size for size, _ in files(path).values())
    assert (done.location, done.bytes_before, done.bytes_after) == (str(path.resolve()), before, after)
    assert after < before and (path / CHROMA_FILE).stat().st_size < chroma_before
    for name in files(path):  # still private (Chroma writes with the umask's modes)
        assert stat.S_IMODE((path / name).stat().st_mode) == 0o600
    with EpisodeStore(path) as store:  # the embedder recorded before, read back after
        assert store.count() == len(kept)
        assert sorted(e.id for e in store.list()) == kept
        assert [store.search(q, k=1)[0].episode.id for q in QUERIES] == tops
        again = store.get(kept[0])
        store.add(episode(900))  # and it still takes new episodes
        assert store.search("buy item 900 in the shop", k=1)[0].episode.id == episode(900).id
    assert again.id == kept[0]


def test_compact_refuses_a_store_open_in_another_process(
    filled: tuple[Path, list[str], list[str]], held_elsewhere: Callable[..., AbstractContextManager[int]]
) -> None:
    path, kept, _ = filled
    with held_elsewhere(path) as pid:
        untouched = files(path)
        with pytest.raises(StoreLockedError) as err:
            compact(path)
        assert "\n" not in str(err.value) and f"another process (pid {pid})" in str(err.value)
        assert files(path) == untouched
    with EpisodeStore(path) as store:
        assert store.count() == len(kept)


def test_compact_refuses_a_store_open_in_this_process(filled: tuple[Path, list[str], list[str]]) -> None:
    path, kept, _ = filled
    with EpisodeStore(path) as store:
        untouched = files(path)
        with pytest.raises(StoreLockedError, match="open in this process: close every EpisodeStore") as err:
            compact(path)
        assert "\n" not in str(err.value) and files(path) == untouched
        assert store.count() == len(kept)  # the open store still works
    assert compact(path).bytes_after > 0  # closed: fine


def test_compact_refuses_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    # Refused before any call: nothing listens there, and the credentials are never shown.
    for kwargs in ({"url": "http://user:secret@127.0.0.1:9"}, {}):
        if not kwargs:
            monkeypatch.setenv("WEBCOACH_CHROMA_URL", "http://user:secret@127.0.0.1:9")
        with pytest.raises(ConfigError) as err:
            compact(**kwargs)  # type: ignore[arg-type]
        message = str(err.value)
        assert "\n" not in message and "secret" not in message
        assert "Chroma server at http://127.0.0.1:9" in message and "operator" in message and "chroma vacuum --path" in message


def test_compact_of_nothing_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no embedded store at .*nothing to compact") as err:
        compact(tmp_path / "nowhere")
    assert "\n" not in str(err.value) and not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize(
    "child",
    [
        "import os; os.abort()",  # a crash in Chroma's Rust code
        "import sys; print('Failed to vacuum Chroma', file=sys.stderr)",  # how Chroma 1.5 fails: exit code 0
    ],
)
def test_a_failed_vacuum_is_one_line_and_leaves_the_store_usable(
    filled: tuple[Path, list[str], list[str]], monkeypatch: pytest.MonkeyPatch, child: str
) -> None:
    path, kept, tops = filled
    monkeypatch.setattr(store_module, "_VACUUM", child)
    with pytest.raises(StoreError, match=f"Chroma could not compact {path.resolve()}") as err:
        compact(path)
    assert "\n" not in str(err.value)
    with EpisodeStore(path) as store:  # the lock was released
        assert store.count() == len(kept) and store.search(QUERIES[0], k=1)[0].episode.id == tops[0]


def test_compact_refuses_a_plain_chroma_client_of_this_process(filled: tuple[Path, list[str], list[str]]) -> None:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path, _, _ = filled
    client = chromadb.PersistentClient(path=str(path.resolve()), settings=ChromaSettings(anonymized_telemetry=False))
    try:
        with pytest.raises(StoreLockedError, match=r"a Chroma client in this process has .* open: close it"):
            compact(path)
    finally:
        client.close()  # type: ignore[attr-defined]
    with EpisodeStore(path) as store:  # the lock was released
        assert store.count() == 600


def test_a_big_layout_move_points_at_compact_which_gives_the_space_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, layout2_store: Callable[[Path, Sequence[Episode]], None]
) -> None:
    path = tmp_path / "chroma"
    episodes = [episode(n) for n in range(1000)]  # the move says so from 1,000 episodes
    layout2_store(path, episodes)
    caplog.set_level(logging.WARNING, logger="webcoach")
    with EpisodeStore(path) as store:
        tops = [store.search(q, k=1)[0].episode.id for q in QUERIES]
    warnings = [r.getMessage() for r in caplog.records if r.name == "webcoach"]
    assert any("moving 1000 episodes" in w for w in warnings)
    assert any("`webcoach memory compact`" in w and "gives back the disk space" in w for w in warnings)
    chroma_before = (path / CHROMA_FILE).stat().st_size
    done = compact(path)
    assert done.bytes_after < done.bytes_before and (path / CHROMA_FILE).stat().st_size < chroma_before
    with EpisodeStore(path) as store:
        assert store.count() == 1000 and store.get(episodes[5].id) == episodes[5]
        assert [store.search(q, k=1)[0].episode.id for q in QUERIES] == tops
