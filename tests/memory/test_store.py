"""The episode store on real Chroma (temp dirs, a real `chroma run` server), ranking, migrations."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings
from webcoach.condenser.episode import SCHEMA_VERSION, Episode, Outcome, content_hash, domain_of
from webcoach.errors import (
    ConfigError,
    EmbedderMismatchError,
    InputError,
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
)
from webcoach.memory.embed import HashingEmbedder
from webcoach.memory.lock import LOCK_NAME
from webcoach.memory.migrations import MIGRATIONS, upgrade
from webcoach.memory.ranking import Hit, RetrievalWeights, rank, recency, same_site
from webcoach.memory.records import encode
from webcoach.memory.records_db import FILE_NAME
from webcoach.memory.store import EpisodeStore, StoreStats, download_default_model
from webcoach.memory.transfer import content_id

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SHOP = "https://shop.example.com/index.html"
CHROMA_BIN = Path(sys.executable).with_name("chroma")


def make_episode(
    task: str,
    *,
    url: str | None = SHOP,
    days_ago: float = 1.0,
    outcome: Outcome = Outcome.SUCCESS,
    helped: int = 0,
    hurt: int = 0,
    salt: str = "",
    created_at: datetime | None = None,
) -> Episode:
    digest = content_hash(task, f"{url}|{days_ago}|{salt}")
    return Episode(
        id=digest[:16],
        task=task,
        start_url=url,
        domain=domain_of(url),
        outcome=outcome,
        outcome_by="agent",
        summary=f"Did: {task}",
        key_steps=["open the start page", f"work on: {task}"],
        lessons=["use the search box first"],
        step_count=3,
        duration_s=12.5,
        created_at=created_at or NOW - timedelta(days=days_ago),
        source_kind="test",
        content_hash=digest,
        helped=helped,
        hurt=hurt,
    )


TASKS = [
    "Find a vegetarian lasagna recipe with at least four stars",
    "Buy the paperback edition of Dune",
    "Log in and change the account email address",
    "Book a one-way flight from Berlin to Paris",
    "Compare the prices of two science fiction novels",
]


def open_store(path: Path, **kw: object) -> EpisodeStore:
    return EpisodeStore(path, embedder=kw.pop("embedder", "hashing"), **kw)  # type: ignore[arg-type]


def lock_is_free(chroma_dir: Path) -> bool:
    """flock locks belong to an open file description, so a fresh open in this process sees our own lock too."""
    fd = os.open(chroma_dir / LOCK_NAME, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def db(tmp_path: Path) -> Iterator[EpisodeStore]:
    with open_store(tmp_path / "chroma") as store:
        yield store


# -- basics ----------------------------------------------------------------------------------------------------------


def test_round_trip_add_get_search_list_count_forget(db: EpisodeStore) -> None:
    episodes = [make_episode(t, days_ago=i) for i, t in enumerate(TASKS)]
    assert db.add(episodes[0]) == episodes[0].id
    assert db.add_many(episodes[1:]) == [e.id for e in episodes[1:]]
    assert db.count() == 5
    assert db.get(episodes[2].id) == episodes[2]
    assert [e.id for e in db.list()] == [e.id for e in episodes]  # newest first: days_ago 0, 1, 2...
    assert [e.id for e in db.list(limit=2, offset=1)] == [episodes[1].id, episodes[2].id]
    hits = db.search(TASKS[3], url=SHOP, k=3, now=NOW)
    assert len(hits) == 3 and isinstance(hits[0], Hit)
    assert hits[0].episode == episodes[3] and hits[0].similarity > 0.5
    assert db.forget(episodes[3].id) is True
    assert db.forget(episodes[3].id) is False
    assert db.count() == 4
    with pytest.raises(StoreError, match=rf"^no episode {episodes[3].id} in namespace 'default'$"):
        db.get(episodes[3].id)
    assert all(h.episode.id != episodes[3].id for h in db.search(TASKS[3], k=5))


def test_list_is_newest_first_however_old_the_episodes(db: EpisodeStore) -> None:
    now = datetime.now(UTC)
    ages = [timedelta(hours=1), timedelta(days=3), timedelta(days=3000), now - datetime(1970, 1, 2, tzinfo=UTC)]
    episodes = [make_episode(t, created_at=now - age) for t, age in zip(TASKS, ages, strict=False)]
    db.add_many(reversed(episodes))
    ids = [e.id for e in episodes]
    assert [e.id for e in db.list()] == ids
    for limit in range(1, 6):
        assert [e.id for e in db.list(limit=limit)] == ids[:limit]
    assert [e.id for e in db.list(limit=2, offset=2)] == ids[2:4]
    assert db.list(limit=2, offset=4) == []


def test_adding_an_id_again_changes_nothing(db: EpisodeStore) -> None:
    first = make_episode(TASKS[0])
    db.add(first)
    db.record_outcome([first.id], success=True)
    # The same id with other content (as a re-condensed log would give) keeps what is stored, counters included.
    again = first.model_copy(update={"summary": "changed", "helped": 0})
    assert db.add(again) == first.id
    assert db.add_many([again, make_episode(TASKS[1]), make_episode(TASKS[1])]) == [first.id, *[make_episode(TASKS[1]).id] * 2]
    assert db.count() == 2
    stored = db.get(first.id)
    assert stored.summary == first.summary and stored.helped == 1


def test_stats(db: EpisodeStore) -> None:
    db.add_many(
        [
            make_episode(TASKS[0], outcome=Outcome.FAILURE),
            make_episode(TASKS[1]),
            make_episode(TASKS[2], url="https://books.example.org/"),
            make_episode(TASKS[3], url=None, outcome=Outcome.UNKNOWN),
        ]
    )
    stats = db.stats()
    assert stats == StoreStats(
        count=4,
        by_outcome={"failure": 1, "success": 2, "unknown": 1},
        by_domain=[("example.com", 2), ("example.org", 1)],  # sites: shop.example.com is on example.com
        embedder="hashing-v1",
        dim=384,
        namespace="default",
        location=db.location,
        schema_version=SCHEMA_VERSION,
    )


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = open_store(tmp_path / "chroma")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.count()


# -- ranking ---------------------------------------------------------------------------------------------------------


def test_search_ranks_the_same_task_first(db: EpisodeStore) -> None:
    db.add_many([make_episode(t) for t in TASKS])
    for task in TASKS:
        assert db.search(task, k=1, now=NOW)[0].episode.task == task


def test_search_prefers_the_same_site(db: EpisodeStore) -> None:
    task = "Find the store's return policy"
    shop, books = make_episode(task, url=SHOP), make_episode(task, url="https://books.example.org/help")
    db.add_many([shop, books])
    assert [h.episode.id for h in db.search(task, url="https://shop.example.com/cart", now=NOW)] == [shop.id, books.id]
    hits = db.search(task, url="https://www.books.example.org/", now=NOW)
    assert [h.episode.id for h in hits] == [books.id, shop.id]
    assert hits[0].same_site and not hits[1].same_site


def test_search_prefers_recent_episodes(db: EpisodeStore) -> None:
    old, new = make_episode(TASKS[0], days_ago=60), make_episode(TASKS[0], days_ago=1)
    db.add_many([old, new])
    hits = db.search(TASKS[0], now=NOW)
    assert [h.episode.id for h in hits] == [new.id, old.id]
    assert hits[0].recency == pytest.approx(0.5 ** (1 / 14)) and hits[1].recency == pytest.approx(0.5 ** (60 / 14))
    # Without a recency weight the two are tied on everything else and the newer one still wins the tie.
    flat = db.search(TASKS[0], now=NOW, weights=RetrievalWeights(recency=0.0))
    assert flat[0].score == pytest.approx(flat[1].score)


def test_usefulness_moves_with_recorded_outcomes(db: EpisodeStore) -> None:
    a, b = make_episode(TASKS[1], salt="a"), make_episode(TASKS[1], salt="b")
    db.add_many([a, b])
    first, second = (h.episode.id for h in db.search(TASKS[1], now=NOW))
    assert db.record_outcome([second, "no-such-id"], success=True) == 1
    hits = db.search(TASKS[1], now=NOW)
    assert hits[0].episode.id == second and hits[0].usefulness == pytest.approx(2 / 3)
    assert hits[0].episode.helped == 1
    db.record_outcome([second], success=False)
    db.record_outcome([second, second], success=False)  # one run, counted once
    hits = db.search(TASKS[1], now=NOW)
    assert [h.episode.id for h in hits] == [first, second]
    assert (hits[1].episode.helped, hits[1].episode.hurt) == (1, 2)


def test_without_a_url_the_site_the_nearest_agree_on_comes_first() -> None:
    shop = [make_episode(f"shop {i}", days_ago=0) for i in range(3)]
    odd = make_episode("other", url="https://other.example.net/", days_ago=0)
    pairs = [(odd, 0.80), (shop[0], 0.78), (shop[1], 0.75), (shop[2], 0.70)]
    hits = rank(pairs, url=None, now=NOW)
    # The odd neighbour is the most similar, but the shop's three outvote it: all three rank above it.
    assert [h.episode for h in hits] == [shop[0], shop[1], shop[2], odd]
    assert hits[0].score == pytest.approx(0.78 + 0.15 + 0.15)
    assert not any(h.same_site for h in hits)  # a guess orders hits; it never claims to be the run's site
    assert [h.likely_site for h in hits] == [True, True, True, False]  # and says it was one (advise --explain)
    assert rank(pairs, url=None, now=NOW, weights=RetrievalWeights(site_vote=0))[0].episode == odd
    # With a URL there is no vote: the URL's site decides (an unseen site's URL leaves plain similarity).
    assert rank(pairs, url="https://never.example.org/", now=NOW)[0].episode == odd


def test_rank_is_the_documented_formula() -> None:
    w = RetrievalWeights()
    fresh_shop = make_episode("x", days_ago=0, helped=3, hurt=1)
    old_other = make_episode("y", url="https://other.example.net/", days_ago=28)
    hits = rank([(old_other, 0.9), (fresh_shop, 0.8)], url="https://m.shop.example.com/", now=NOW, weights=w)
    assert [h.episode for h in hits] == [fresh_shop, old_other]
    assert hits[0].score == pytest.approx(0.8 + 0.15 * 1.0 + 0.25 * (4 / 6 - 0.5) * 2 + 0.15)
    assert hits[1].score == pytest.approx(0.9 + 0.15 * 0.25)
    no_vote = RetrievalWeights(likely_site=0.0)
    assert rank([(old_other, 0.9), (fresh_shop, 0.8)], url=None, now=NOW, weights=no_vote, k=1)[0].episode == fresh_shop
    assert rank([(old_other, 0.1)], url=None, now=NOW, weights=RetrievalWeights(min_similarity=0.2)) == []
    assert recency(NOW - timedelta(days=14), NOW, 14) == pytest.approx(0.5)
    assert recency(NOW.replace(tzinfo=None), NOW, 14) == 1.0  # naive datetimes read as UTC
    assert same_site("docs.python.org", "python.org") and not same_site("python.org", "jython.org")


# -- namespaces, export/import -----------------------------------------------------------------------------------------


def test_namespaces_never_see_each_other(tmp_path: Path) -> None:
    with open_store(tmp_path / "c", namespace="team-a") as a, open_store(tmp_path / "c", namespace="team-b") as b:
        a.add_many([make_episode(t) for t in TASKS[:3]])
        assert b.count() == 0 and b.search(TASKS[0]) == []
        only_b = make_episode(TASKS[0], salt="b")
        b.add(only_b)
        assert all(h.episode.id != only_b.id for h in a.search(TASKS[0], k=10))
        assert [h.episode.id for h in b.search(TASKS[0], k=10)] == [only_b.id]
        assert a.count() == 3
        with pytest.raises(StoreError, match="namespace 'team-a'"):
            a.get(only_b.id)


def test_export_import_round_trip_keeps_content_and_marks_provenance(tmp_path: Path) -> None:
    episodes = [make_episode(t, days_ago=i % 3, helped=i, hurt=1, outcome=list(Outcome)[i % 3]) for i, t in enumerate(TASKS)]
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    with open_store(tmp_path / "one") as one:
        one.add_many(episodes)
        assert one.export(first) == 5
    lines = first.read_text().splitlines()
    created = [json.loads(line)["created_at"] for line in lines]
    assert created == sorted(created) and {json.loads(line)["helped"] for line in lines} == {0, 1, 2, 3, 4}
    with open_store(tmp_path / "two", namespace="copy") as two:
        assert two.import_(first, trust_counts=True) == (5, 0)
        assert two.import_(first) == (0, 5)
        assert two.export(second) == 5
        copies = {ep.task: ep for ep in two.list()}
    for original in episodes:
        copy = copies[original.task]
        assert copy.imported_from == "first.jsonl" and copy.trust == "imported" and copy.id == content_id(copy)
        keep = ("id", "imported_from", "imported_at")
        assert copy.model_dump(exclude=set(keep)) == original.model_dump(exclude=set(keep))
    with open_store(tmp_path / "one") as one:
        assert one.import_(second) == (0, 5)  # coming home: already there under their own ids


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", r"line 3 is not an episode"),
        ('{"id": "x", "task": "no summary"}', r"line 3 is not an episode \(summary: Field required; source_kind"),
        ("[1, 2]", r"line 3 is not an episode \(not a JSON object\)"),
        ('{"schema_version": 99, "id": "x"}', r"line 3 uses episode schema version 99.*upgrade webcoach"),
    ],
)
def test_import_of_a_bad_file_adds_nothing(db: EpisodeStore, tmp_path: Path, bad_line: str, message: str) -> None:
    db.add_many([make_episode(TASKS[0]), make_episode(TASKS[1])])
    source = tmp_path / "bad.jsonl"
    good = [make_episode(t).model_dump_json() for t in TASKS[2:4]]
    source.write_text("\n".join([*good, bad_line, ""]) + "\n")
    with pytest.raises(InputError, match=message) as err:
        db.import_(source)
    assert "\n" not in str(err.value) and "nothing was imported" in str(err.value)
    assert db.count() == 2 and {e.task for e in db.list()} == set(TASKS[:2])


# -- processes -------------------------------------------------------------------------------------------------------


def test_cross_process_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "chroma"
    theirs = make_episode(TASKS[0])
    run_python(
        "from webcoach.memory.store import EpisodeStore; from webcoach.condenser.episode import Episode\n"
        f"with EpisodeStore({str(path)!r}, embedder='hashing') as s: s.add(Episode.model_validate_json({theirs.model_dump_json()!r}))"
    )
    with EpisodeStore(path) as store:  # embedder recorded by the other process
        assert store.get(theirs.id) == theirs
        assert store.search(TASKS[0], k=1)[0].episode.id == theirs.id
        ours = make_episode(TASKS[1])
        store.add(ours)
    out = run_python(
        "from webcoach.memory.store import EpisodeStore\n"
        f"with EpisodeStore({str(path)!r}) as s: print(s.count(), s.search({TASKS[1]!r}, k=1)[0].episode.model_dump_json())"
    )
    count, found = out.strip().split(" ", 1)
    assert count == "2" and Episode.model_validate_json(found) == ours


def test_a_second_process_is_refused_while_one_holds_the_store(
    tmp_path: Path, held_elsewhere: Callable[..., AbstractContextManager[int]]
) -> None:
    path = tmp_path / "chroma"
    with held_elsewhere(path, embedder="hashing") as pid:
        with pytest.raises(StoreLockedError) as err:
            open_store(path)
        message = str(err.value)
        assert "\n" not in message
        assert f"another process (pid {pid}) is using the embedded store at {path.resolve()}" in message
        # A server on the locked directory itself would corrupt it: the hint names a separate one and how to move data.
        assert f"chroma run --path {path.resolve()} " not in message
        assert f"chroma run --path {path.resolve().parent / 'chroma-server'} " in message
        assert "WEBCOACH_CHROMA_URL=http://127.0.0.1:8000" in message and "memory export" in message and "import" in message
    with open_store(path) as store:
        assert store.count() == 0


def test_several_stores_in_one_process_share_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "chroma"
    one = open_store(path)
    monkeypatch.chdir(tmp_path)
    two = EpisodeStore("./chroma")  # another spelling of the same directory is the same store
    assert two.location == one.location == str(path.resolve())
    one.add(make_episode(TASKS[0]))
    assert two.count() == 1
    one.close()
    assert not lock_is_free(path)  # `two` still holds it
    two.add(make_episode(TASKS[1]))
    assert two.count() == 2
    two.close()
    assert lock_is_free(path)
    with open_store(path) as three:
        assert three.count() == 2


# -- embedders -------------------------------------------------------------------------------------------------------


class FakeEmbedder:
    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1.0] + [0.0] * (self.dim - 1) for _ in texts]


def test_embedder_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "chroma"
    open_store(path).close()
    for other in (FakeEmbedder("toy", 8), HashingEmbedder(dim=128)):
        with pytest.raises(EmbedderMismatchError) as err:
            EpisodeStore(path, embedder=other)
        message = str(err.value)
        assert "\n" not in message
        assert f"built with embedder hashing-v1 (dim 384) but {other.name} (dim {other.dim})" in message
        assert "new namespace" in message
    assert lock_is_free(path)  # a failed open leaves nothing held
    with EpisodeStore(path, embedder=FakeEmbedder("toy", 8), namespace="toys") as toys:
        assert toys.embedder.name == "toy"
    with pytest.raises(ConfigError, match="cannot load by name"):
        EpisodeStore(path, namespace="toys")


def test_collection_built_with_minilm_needs_its_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no Chroma model cache
    path = tmp_path / "chroma"
    with EpisodeStore(path, embedder=FakeEmbedder("all-MiniLM-L6-v2", 384)) as store:
        store.add(make_episode("Find a book"))
    # Only what embeds needs the model: the store opens, lists and counts; a search says how to get the files.
    with EpisodeStore(path) as store:
        assert store.count() == 1 and len(store.list()) == 1
        with pytest.raises(
            ConfigError, match=r"built with embedder all-MiniLM-L6-v2 but its model files are missing.*setup-embedder"
        ):
            store.search("Find a book")
    with pytest.raises(ConfigError, match="all-MiniLM-L6-v2 was asked for"):
        EpisodeStore(path, embedder="minilm")


def test_download_default_model_reports_a_failed_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEBCOACH_EMBED_MODEL_URL", f"http://127.0.0.1:{free_port()}/onnx.tar.gz")
    with pytest.raises(ConfigError, match=r"cannot download all-MiniLM-L6-v2 .*WEBCOACH_EMBED_MODEL_DIR") as err:
        download_default_model()
    assert "\n" not in str(err.value)


# -- server mode -----------------------------------------------------------------------------------------------------


def test_unreachable_server_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("WEBCOACH_CHROMA_URL", url)
    with pytest.raises(StoreError) as err:
        EpisodeStore(embedder="hashing")
    message = str(err.value)
    assert message.startswith(f"cannot reach Chroma server at {url} (") and "\n" not in message
    assert "chroma run" in message and "unset WEBCOACH_CHROMA_URL" in message


def test_two_clients_share_a_chroma_server(chroma_server: tuple[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    url, server = chroma_server
    writer = EpisodeStore(url=url, embedder="hashing", namespace="shared")
    monkeypatch.setenv("WEBCOACH_CHROMA_URL", url)
    reader = EpisodeStore(namespace="shared")  # the URL from the environment, the embedder from the collection
    try:
        assert reader.location == url and reader.embedder.name == "hashing-v1"
        episodes = [make_episode(t) for t in TASKS]
        writer.add_many(episodes)
        assert reader.count() == 5
        assert reader.search(TASKS[2], k=1)[0].episode == episodes[2]
        reader.record_outcome([episodes[2].id], success=True)
        assert writer.get(episodes[2].id).helped == 1
        assert writer.forget(episodes[0].id) and reader.count() == 4
        # The server goes away under open stores: a one-line StoreError, not an httpx exception.
        server.terminate()
        server.wait(timeout=10)
        with pytest.raises(StoreUnavailableError, match=r"^cannot reach Chroma server at .*Connection refused") as err:
            reader.search(TASKS[0])
        assert "\n" not in str(err.value)
    finally:
        writer.close()
        reader.close()


def test_a_server_reader_sees_another_clients_new_site_after_the_ttl(
    chroma_server: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import webcoach.memory.store as store_module

    monkeypatch.setattr(store_module, "SERVER_TTL_S", 0.0)  # re-read counts and site vectors on every search
    url, _ = chroma_server
    with EpisodeStore(url=url, embedder="hashing") as writer, EpisodeStore(url=url, embedder="hashing") as reader:
        first = make_episode(TASKS[0], url="https://www.lonely.org/")
        writer.add(first)
        assert [h.episode.id for h in reader.search(TASKS[1], url="https://lonely.org/", k=2, now=NOW)] == [first.id]
        second = make_episode(TASKS[1], url="https://lonely.org/help")
        writer.add_many([second, *(make_episode(t, salt="x") for t in TASKS)])
        hits = reader.search(TASKS[1], url="https://lonely.org/", k=2, now=NOW)
        assert [h.episode.id for h in hits] == [second.id, first.id]
        assert reader._sites.count("lonely.org") == 2  # the writer's adds, counted by the reader after the TTL


# -- schema versions -------------------------------------------------------------------------------------------------


def v0_record(task: str, success: bool | None) -> dict[str, object]:
    """The pre-release stored shape: `success` instead of outcome/outcome_by, `steps`, no domain, no counters."""
    return {
        "id": content_hash(task, "v0")[:16],
        "task": task,
        "start_url": "https://www.shop.example.com/",
        "success": success,
        "summary": f"Did: {task}",
        "steps": ["opened the shop"],
        "lessons": ["search first"],
        "created_at": "2025-06-01T10:00:00Z",
        "source_kind": "browser_use_history",
        "content_hash": content_hash(task, "v0"),
    }


def test_migrations_upgrade_version_0() -> None:
    assert len(MIGRATIONS) == SCHEMA_VERSION and MIGRATIONS[0].__name__.startswith("m001_")
    old = v0_record(TASKS[0], False)
    new = upgrade(old)
    assert old["success"] is False and "outcome" not in old  # input untouched
    episode = Episode.model_validate(new)
    assert episode.schema_version == SCHEMA_VERSION
    assert (episode.outcome, episode.outcome_by, episode.key_steps) == (Outcome.FAILURE, "agent", ["opened the shop"])
    assert episode.domain == "example.com" and (episode.helped, episode.hurt) == (0, 0)
    assert Episode.model_validate(upgrade(v0_record("t", None))).outcome == Outcome.UNKNOWN
    assert Episode.model_validate(upgrade({**v0_record("t", True), "schema_version": 0})).outcome == Outcome.SUCCESS
    current = make_episode(TASKS[1]).model_dump(mode="json")
    assert upgrade(current) == current
    with pytest.raises(StoreError, match=r"schema version 4, newer than this webcoach understands \(3\): upgrade webcoach"):
        upgrade({**current, "schema_version": 4})


def test_migration_3_keeps_a_human_verdict_and_drops_a_judge_read_from_a_log() -> None:
    # Before version 3 "human" was written only by webcoach's own paths; "judge" may have come from a log's verdict.
    base = {**make_episode(TASKS[0]).model_dump(mode="json"), "schema_version": 2}
    base.pop("vouched_by")
    human = Episode.model_validate(upgrade({**base, "outcome_by": "human"}))
    judge = Episode.model_validate(upgrade({**base, "outcome_by": "judge"}))
    assert (human.trust, human.vouched_by) == ("human", "human:before-v3")
    assert (judge.trust, judge.vouched_by) == ("agent", None)


def _raw_collection(path: Path, *, schema_version: int, records: list[dict[str, object]]) -> None:
    """Write a collection the way an older (or newer) webcoach would have, straight through chromadb."""
    client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
    try:
        collection = client.get_or_create_collection(
            "webcoach-default",
            embedding_function=None,
            metadata={"embedder": "hashing-v1", "embedder_dim": 384, "schema_version": schema_version},
            configuration={"hnsw": {"space": "cosine"}},
        )
        if records:
            texts = [str(r["task"]) for r in records]
            collection.add(
                ids=[str(r["id"]) for r in records],
                embeddings=HashingEmbedder().embed(texts),  # type: ignore[arg-type]
                documents=texts,
                metadatas=[
                    {"episode": json.dumps(r), "created_at": 1.7e9, "schema_version": int(r.get("schema_version", 0))}  # type: ignore[call-overload]
                    for r in records
                ],
            )
    finally:
        client.close()  # type: ignore[attr-defined]


def test_store_reads_and_upgrades_old_records(tmp_path: Path) -> None:
    path = tmp_path / "chroma"
    old = [v0_record(TASKS[0], True), v0_record(TASKS[1], False)]
    _raw_collection(path, schema_version=0, records=old)
    with EpisodeStore(path) as store:
        assert store.embedder.name == "hashing-v1"
        first = store.get(str(old[0]["id"]))
        assert (first.outcome, first.key_steps, first.schema_version) == (Outcome.SUCCESS, ["opened the shop"], SCHEMA_VERSION)
        assert store.search(TASKS[1], k=1)[0].episode.outcome == Outcome.FAILURE
        assert len(store.list()) == 2
        store.record_outcome([str(old[1]["id"])], success=True)  # rewrites the record in the current shape
        assert store.get(str(old[1]["id"])).helped == 1
        store.add(make_episode(TASKS[2]))
        assert store.count() == 3
        rewritten = store._col.get(ids=[str(old[0]["id"])], include=["metadatas"])
        assert set(dict((rewritten["metadatas"] or [{}])[0])) == {"site"}  # moved to the record file (layout 3)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    _raw_collection(tmp_path / "newer-collection", schema_version=SCHEMA_VERSION + 1, records=[])
    with pytest.raises(StoreError, match=r"^namespace 'default' at .* newer than this webcoach understands.*upgrade webcoach"):
        EpisodeStore(tmp_path / "newer-collection")
    future = {**make_episode(TASKS[0]).model_dump(mode="json"), "schema_version": SCHEMA_VERSION + 1, "new_field": 1}
    _raw_collection(tmp_path / "newer-record", schema_version=SCHEMA_VERSION, records=[future])
    with EpisodeStore(tmp_path / "newer-record") as store, pytest.raises(StoreError, match="upgrade webcoach") as err:
        store.get(str(future["id"]))
    assert "\n" not in str(err.value)


# -- same site first, lean records (issue 9) ---------------------------------------------------------------------------


def test_a_site_with_one_episode_is_found_beyond_the_nearest(db: EpisodeStore) -> None:
    """The only episode of a site, unlike the query, comes first for a URL on that site even though 60 episodes of
    other sites are nearer (it is outside the over-fetched nearest 32)."""
    task = "Find the cheapest science fiction paperback"
    crowd = [make_episode(task, url=f"https://shop{i}.example.net/", salt=str(i)) for i in range(60)]
    lonely = make_episode("Download last month's invoice as PDF", url="https://billing.lonely.org/login")
    db.add_many([*crowd, lonely])
    hits = db.search(task, url="https://www.lonely.org/account", k=3, now=NOW)
    assert hits[0].episode.id == lonely.id and hits[0].same_site
    assert not any(h.same_site for h in hits[1:])
    assert lonely.id not in {h.episode.id for h in db.search(task, k=5, now=NOW)}  # without a URL: similarity rules


def test_same_site_episodes_come_before_closer_ones_from_other_sites(db: EpisodeStore) -> None:
    here = make_episode("Change the delivery address", url=SHOP)
    elsewhere = make_episode("Buy the paperback edition of Dune", url="https://books.example.org/")
    db.add_many([here, elsewhere])
    hits = db.search("Buy the paperback edition of Dune", url="https://shop.example.com/", now=NOW)
    assert [h.episode.id for h in hits] == [here.id, elsewhere.id]
    assert hits[0].similarity < hits[1].similarity


def test_episode_domain_comes_from_its_start_url() -> None:
    data = make_episode(TASKS[0]).model_dump(mode="json")
    data["domain"] = None
    assert Episode.model_validate(data).domain == "example.com"  # the site: the registrable domain
    assert Episode.model_validate({**data, "start_url": None}).domain is None


def test_embedded_chroma_keeps_vectors_and_sites_only_and_a_reopened_store_has_everything(tmp_path: Path) -> None:
    episode = make_episode(TASKS[0], helped=2)
    others = [make_episode(t, url=f"https://www.site{i}.org/") for i, t in enumerate(TASKS[1:])]
    with open_store(tmp_path / "chroma") as store:
        assert store.add_batch([episode, *others]) == {episode.id, *(e.id for e in others)}
        record = store._col.get(ids=[episode.id], include=["metadatas", "documents"])
        assert dict((record["metadatas"] or [{}])[0]) == {"site": "example.com"}  # for a site-filtered query only
        assert not any(record["documents"] or [])  # nothing for Chroma's full-text index
        store.record_outcome([episode.id], success=False)
        store.review(others[0].id, pinned=True)
    file = tmp_path / "chroma" / FILE_NAME
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    with sqlite3.connect(file) as db:
        (body,) = db.execute('SELECT body FROM "episodes-default" WHERE id = ?', (episode.id,)).fetchone()
    db.close()
    assert isinstance(body, bytes) and len(body) < len(episode.model_dump_json()) / 2
    with open_store(tmp_path / "chroma") as store:
        assert store.get(episode.id) == episode.model_copy(update={"hurt": 1})
        assert store.get(others[0].id).pinned and store.count() == 5
        assert [h.episode.id for h in store.search(TASKS[0], k=1, now=NOW)] == [episode.id]
        assert store.search(TASKS[2], url="https://site1.org/", k=1, now=NOW)[0].episode == others[1]
        assert {e.id for e in store.list()} == {episode.id, *(e.id for e in others)}
        assert store.stats().by_domain == sorted((str(e.domain), 1) for e in [episode, *others])
        assert store.forget(episode.id) and not store.contains(episode.id) and store.count() == 4
    with open_store(tmp_path / "chroma") as store:
        assert len(store.list()) == 4 and store.stats().count == 4


def test_server_records_hold_a_compressed_body_and_ranking_fields(chroma_server: tuple[str, Any]) -> None:
    """Processes sharing a server share no disk: there the whole record stays in Chroma's metadata (layout 2)."""
    episode = make_episode(TASKS[0], helped=2)
    with EpisodeStore(url=chroma_server[0], embedder="hashing") as store:
        store.add(episode)
        record = store._col.get(ids=[episode.id], include=["metadatas", "documents"])
        meta = dict((record["metadatas"] or [{}])[0])
        assert set(meta) == {"body", "site", "outcome", "created_at", "helped", "hurt"}
        assert not any(record["documents"] or [])
        assert meta["site"] == "example.com" and meta["helped"] == 2
        assert len(str(meta["body"])) < len(episode.model_dump_json()) / 2
        store.record_outcome([episode.id], success=False)
        assert store.get(episode.id) == episode.model_copy(update={"hurt": 1})
        assert store.review(episode.id, banned=True).banned and store.get(episode.id).banned
        assert [e.id for e in store.list(limit=1)] == [episode.id] and store.stats().count == 1


def test_an_embedded_layout_2_store_moves_to_the_record_file_once_and_keeps_everything(
    tmp_path: Path, layout2_store: Callable[[Path, Sequence[Episode]], None]
) -> None:
    path = tmp_path / "chroma"
    episodes = [
        make_episode(t, url=f"https://www.site{i % 2}.org/", helped=i, hurt=4 - i, days_ago=i) for i, t in enumerate(TASKS)
    ]
    layout2_store(path, episodes)
    with EpisodeStore(path) as store:
        assert [store.get(e.id) for e in episodes] == episodes
        assert [e.id for e in store.list()] == [e.id for e in episodes]  # newest first
        assert store.search(TASKS[3], url="https://site1.org/", k=1, now=NOW)[0].episode == episodes[3]
        assert store.stats().by_domain == [("site0.org", 3), ("site1.org", 2)]
        found = store._col.get(include=["metadatas"])
        assert all(dict(m) == {"site": str(e.domain)} for m, e in zip(found["metadatas"] or [], episodes, strict=True))
    # A move cut short (the layout not yet recorded, one record still whole in Chroma) is finished on the next open.
    client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.get_collection("webcoach-default", embedding_function=None)
    collection.modify(metadata={**dict(collection.metadata or {}), "layout": 2})
    collection.update(ids=[episodes[0].id], metadatas=[encode(episodes[0].model_copy(update={"helped": 7}))])  # type: ignore[list-item]
    client.close()  # type: ignore[attr-defined]
    with EpisodeStore(path) as store:
        assert store.get(episodes[0].id).helped == 7
        assert [store.get(e.id) for e in episodes[1:]] == episodes[1:] and store.count() == 5


def test_a_crash_between_the_record_and_the_vector_is_completed_from_the_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "chroma"
    episode = make_episode(TASKS[0])
    # The process dies after the record is committed and before Chroma has the vector.
    code = (
        "import os\n"
        "from webcoach.memory.store import EpisodeStore\n"
        "from webcoach.condenser.episode import Episode\n"
        f"store = EpisodeStore({str(path)!r}, embedder='hashing')\n"
        "store._collection.add = lambda *a, **k: os._exit(3)\n"
        f"store.add(Episode.model_validate_json({episode.model_dump_json()!r}))\n"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60).returncode == 3
    caplog.set_level(logging.WARNING, logger="webcoach")
    with open_store(path, read_only=True) as store:  # a read changes nothing and says what to run
        assert store.list() == [episode] and store.search(TASKS[0]) == []
    assert any("memory repair" in r.getMessage() and "no vector" in r.getMessage() for r in caplog.records)
    with open_store(path) as store:  # the record is the truth: a writer's open indexes it, whole
        assert store.contains(episode.id) and store.count() == 1
        assert store.search(TASKS[0], k=1, now=NOW)[0].episode == episode
        assert store.add_batch([episode]) == set()  # already stored
    with open_store(path, read_only=True) as store:
        assert store.list() == [episode]


def test_a_failed_vector_write_drops_the_record_it_followed(db: EpisodeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    episode = make_episode(TASKS[0])

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(db._collection, "add", refuse)
    with pytest.raises(StoreError, match="disk full"):
        db.add(episode)
    monkeypatch.undo()
    assert db.list() == [] and db.stats().count == 0
    assert db.add_batch([episode]) == {episode.id} and db.list() == [episode]


def test_reembed_moves_a_namespace_to_another_embedder(tmp_path: Path) -> None:
    path = tmp_path / "chroma"
    episodes = [make_episode(t) for t in TASKS]
    with open_store(path) as store:
        store.add_many(episodes)
        store.record_outcome([episodes[0].id], success=True)
        seen: list[tuple[int, int]] = []
        assert store.reembed(HashingEmbedder(dim=128), on_progress=lambda d, t: seen.append((d, t))) == 5
        assert seen[-1] == (5, 5) and store.embedder.dim == 128
        assert store.search(TASKS[2], k=1, now=NOW)[0].episode == episodes[2]
    with EpisodeStore(path, embedder=HashingEmbedder(dim=128)) as store:  # the namespace now records the new embedder
        assert store.count() == 5 and store.get(episodes[0].id).helped == 1
    with pytest.raises(EmbedderMismatchError, match="memory reembed"):
        open_store(path)


class QueryCountingStore(EpisodeStore):
    """A real store that counts the Chroma queries a search makes and the times it reads a site's episodes."""

    queries = 0
    loads = 0

    def _nearest(self, *args: Any, **kwargs: Any) -> Any:
        type(self).queries += 1
        return super()._nearest(*args, **kwargs)

    def _load_site(self, *args: Any, **kwargs: Any) -> Any:
        type(self).loads += 1
        return super()._load_site(*args, **kwargs)


def test_a_sites_own_episodes_are_read_once_then_searched_in_memory(tmp_path: Path) -> None:
    task = "Find the cheapest science fiction paperback"
    crowd = [make_episode(task, url=f"https://shop{i}.example.net/", salt=str(i)) for i in range(40)]
    lonely = make_episode("Download last month's invoice as PDF", url="https://billing.lonely.org/login")
    big = [make_episode(f"{t} ({i})", url="https://www.bigshop.org/", salt=str(i)) for i, t in enumerate(TASKS * 2)]
    with QueryCountingStore(tmp_path / "chroma", embedder="hashing") as store:
        store.add_many([*crowd, lonely, *big])

        def costs(url: str, k: int = 3) -> tuple[int, int, list[Hit]]:
            before = (QueryCountingStore.queries, QueryCountingStore.loads)
            hits = store.search(task, url=url, k=k, now=NOW)
            return QueryCountingStore.queries - before[0], QueryCountingStore.loads - before[1], hits

        assert costs("https://never-seen.test/")[:2] == (1, 0)  # a site memory has not seen: the nearest only
        queries, loads, hits = costs("https://lonely.org/")
        assert (queries, loads, hits[0].episode.id) == (1, 1, lonely.id)  # 1 of its own < k: the nearest fill the rest
        assert costs("https://lonely.org/")[:2] == (1, 0)  # read once
        queries, loads, hits = costs("https://bigshop.org/", k=5)
        assert (queries, loads) == (0, 1) and all(h.same_site for h in hits)  # k of its own: no global query at all
        added = make_episode(task, url="https://bigshop.org/", salt="new")
        store.add(added)
        store.record_outcome([added.id], success=True)
        queries, loads, hits = costs("https://bigshop.org/", k=5)
        assert (queries, loads) == (0, 0) and hits[0].episode == added.model_copy(update={"helped": 1})
        assert store.forget(lonely.id) and costs("https://lonely.org/")[:2] == (1, 0)
    with QueryCountingStore(tmp_path / "chroma", embedder="hashing") as store:  # counts persist with the namespace
        store.add(lonely)
        assert store.search(task, url="https://lonely.org/", k=1, now=NOW)[0].episode.id == lonely.id


def test_a_sites_own_below_the_similarity_floor_leave_room_for_other_sites(db: EpisodeStore) -> None:
    here = [make_episode(f"Change the delivery address ({i})", url=SHOP, salt=str(i)) for i in range(6)]
    elsewhere = make_episode("Buy the paperback edition of Dune", url="https://books.example.org/")
    db.add_many([*here, elsewhere])
    floor = RetrievalWeights(min_similarity=0.5)
    hits = db.search("Buy the paperback edition of Dune", url=SHOP, k=5, now=NOW, weights=floor)
    assert [h.episode.id for h in hits] == [elsewhere.id]


def test_a_lost_record_file_deletes_nothing_on_read_and_a_restored_one_brings_everything_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "chroma"
    episodes = [make_episode(t) for t in TASKS]
    with open_store(path) as store:
        store.add_many(episodes)
    backup = (path / FILE_NAME).read_bytes()
    (path / FILE_NAME).unlink()  # deleted, or left out of a backup that kept Chroma's files
    caplog.set_level(logging.WARNING, logger="webcoach")
    with open_store(path, read_only=True) as store:  # a read: says so, changes nothing
        assert store.list() == [] and store._col.count() == len(episodes)
    assert not (path / FILE_NAME).exists()
    assert any("memory repair" in r.getMessage() for r in caplog.records)
    with pytest.raises(StoreError, match=r"put the record file back from a backup, or run `webcoach memory repair`"):
        open_store(path)  # a writer will not empty the index on its own
    (path / FILE_NAME).write_bytes(backup)  # the backup put back: every episode is there again
    with open_store(path) as store:
        assert sorted(e.id for e in store.list()) == sorted(e.id for e in episodes) and store.count() == len(episodes)
    # Gone for good: `repair` empties the index (a copy of the vectors kept aside), and the logs can be stored again.
    (path / FILE_NAME).unlink()
    with open_store(path, repairing=True) as store:
        done = store.repair()
        assert done.removed == len(episodes) and done.copy is not None
        assert len(Path(done.copy).read_text().splitlines()) == len(episodes)
        assert store.count() == 0 and store.add_batch(episodes) == {e.id for e in episodes}


def test_a_damaged_record_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "chroma"
    with open_store(path) as store:
        store.add(make_episode(TASKS[0]))
    (path / FILE_NAME).write_bytes(b"not a database" * 400)
    with pytest.raises(StoreError, match=r"^cannot open the record file in .*restore the store from an export") as err:
        open_store(path)
    assert "\n" not in str(err.value) and lock_is_free(path)
