"""Fault injection, as a reliability engineer tries it: kill -9 between two writes (a test hook in store.py), a full
disk (a small tmpfs, when the tests run as root), backups of one of the store's two files put back, an index that
cannot be read. Each test takes the set of episodes `memory export` gives before the fault and checks it after: the
record file is the source of truth, reads never change the store, and only `forget` removes an episode."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from webcoach.condenser.episode import Episode, Outcome, content_hash, domain_of
from webcoach.errors import StoreError
from webcoach.memory.ranking import site_key
from webcoach.memory.records_db import FILE_NAME
from webcoach.memory.repair import REPAIR_DIR
from webcoach.memory.store import ENV_FAULT, EpisodeStore
from webcoach.memory.transfer import export_jsonl

WEBCOACH = str(Path(sys.executable).with_name("webcoach"))
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SITES = ["shop.example.com", "books.example.org", "travel.example.net"]


def episode(i: int, *, batch: str = "a") -> Episode:
    task = f"Task {batch}{i}: find item number {i} and add it to the cart"
    url = f"https://{SITES[i % len(SITES)]}/start"
    digest = content_hash(task, f"{url}|{batch}|{i}")
    return Episode(
        id=digest[:16],
        task=task,
        start_url=url,
        domain=domain_of(url),
        outcome=Outcome.SUCCESS if i % 2 else Outcome.FAILURE,
        outcome_by="agent",
        summary=f"Did: {task}",
        key_steps=["open the start page", f"work on: {task}"],
        lessons=["use the search box first"],
        step_count=3,
        duration_s=12.5,
        created_at=NOW - timedelta(hours=i),
        source_kind="test",
        content_hash=digest,
    )


def cli(home: Path, *args: str, fault: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "WEBCOACH_HOME": str(home), **(env or {})}
    full.pop(ENV_FAULT, None)
    if fault is not None:
        full[ENV_FAULT] = fault
    return subprocess.run([WEBCOACH, *args], capture_output=True, text=True, env=full, timeout=180, check=False)


def exported(home: Path) -> set[str]:
    """The episode set, as `webcoach memory export` (read-only) gives it."""
    with tempfile.TemporaryDirectory() as folder:  # never on the small disk a test fills
        out = Path(folder) / "export.jsonl"
        done = cli(home, "memory", "export", str(out))
        assert done.returncode == 0, done.stderr
        return {json.loads(line)["id"] for line in out.read_text().splitlines() if line.strip()}


def fingerprint(chroma: Path) -> tuple[str, dict[str, str]]:
    """The record file's bytes and the index's vectors (id -> site). Chroma rewrites its own files on reads (it folds its
    write log into the vector index), so the index is compared by what it holds."""
    records = hashlib.sha256((chroma / FILE_NAME).read_bytes()).hexdigest() if (chroma / FILE_NAME).exists() else ""
    with EpisodeStore(chroma, read_only=True, repairing=True) as store:
        return records, store._vectors()


def jsonl(path: Path, episodes: list[Episode]) -> Path:
    export_jsonl(iter(episodes), path)
    return path


def searchable(home: Path, ep: Episode) -> bool:
    with EpisodeStore(home=home, read_only=True) as store:
        return any(h.episode.task == ep.task for h in store.search(ep.task, url=ep.start_url, k=5))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    with EpisodeStore(home=home, embedder="hashing") as store:
        store.add_many([episode(i) for i in range(30)])
    return home


def test_reads_change_nothing(home: Path) -> None:
    before = fingerprint(home / "chroma")
    for args in (["memory", "stats"], ["memory", "list"], ["memory", "search", "find item number 3"]):
        assert cli(home, *args).returncode == 0
    assert exported(home) == {episode(i).id for i in range(30)}
    assert fingerprint(home / "chroma") == before


@pytest.mark.parametrize("point", ["after-records-put", "after-vector-add"])
def test_a_kill_during_an_import_loses_nothing_and_the_next_writer_completes_it(home: Path, point: str) -> None:
    before = exported(home)
    extra = [episode(i, batch="b") for i in range(12)]
    killed = cli(home, "memory", "import", str(jsonl(home.parent / "extra.jsonl", extra)), fault=point)
    assert killed.returncode == -9, killed.stderr
    # The records were committed before the kill: those episodes are stored (the records are the truth).
    imported = exported(home) - before  # (an import gives episodes ids derived from their content)
    assert len(imported) == len(extra)
    snapshot = fingerprint(home / "chroma")
    stats = cli(home, "memory", "stats")
    assert stats.returncode == 0 and fingerprint(home / "chroma") == snapshot  # a read repairs nothing
    if point == "after-records-put":
        assert "memory repair" in stats.stderr and len(stats.stderr.strip().splitlines()) == 1
    again = cli(home, "memory", "import", str(home.parent / "extra.jsonl"))  # a writer: repairs on open, then skips
    assert again.returncode == 0 and "imported 0 episodes" in again.stdout, again.stdout
    assert exported(home) == before | imported
    assert all(searchable(home, e) for e in extra[:3])
    with EpisodeStore(home=home, read_only=True) as store:  # counts come from the records: the kill left none short
        sites = Counter(site_key(e.start_url) for e in store.list())
        assert len(sites) == 3 and sum(sites.values()) == len(before) + len(extra)
        assert all(store._sites.count(str(site)) == n for site, n in sites.items())


def test_a_kill_during_a_forget_never_brings_the_episode_back(home: Path) -> None:
    before = exported(home)
    gone = episode(4)
    killed = cli(home, "memory", "forget", gone.id, fault="after-records-drop")
    assert killed.returncode == -9, killed.stderr + killed.stdout
    assert exported(home) == before - {gone.id}
    repaired = cli(home, "memory", "repair")
    assert repaired.returncode == 0 and "removed 1 vector" in repaired.stdout, repaired.stdout + repaired.stderr
    assert exported(home) == before - {gone.id} and not searchable(home, gone)
    copies = list((home / "chroma" / REPAIR_DIR).glob("*.jsonl"))
    assert [json.loads(line)["id"] for line in copies[0].read_text().splitlines()] == [gone.id]


def test_a_kill_during_repair_is_finished_by_the_next_repair(home: Path) -> None:
    with EpisodeStore(home=home) as store:
        store.add_many([episode(i, batch="more") for i in range(150)])  # more than one repair chunk
    before = exported(home)
    (home / "chroma" / "chroma.sqlite3").unlink()  # the index is gone: every record must be indexed again
    for p in (home / "chroma").iterdir():
        if p.is_dir():
            shutil.rmtree(p)
    failed = cli(home, "memory", "stats")
    assert failed.returncode == 1 and "memory repair" in failed.stderr and "nothing was changed" in failed.stderr
    assert cli(home, "memory", "repair", fault="repair-indexing").returncode == -9
    dry = cli(home, "memory", "repair", "--dry-run", "--json")
    assert dry.returncode == 0 and json.loads(dry.stdout)["to_index"] > 0
    done = cli(home, "memory", "repair", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["to_remove"] == 0, done.stdout
    assert exported(home) == before and searchable(home, episode(7))
    assert "agree" in cli(home, "memory", "repair", "--dry-run").stdout


@pytest.mark.slow  # thousands of episodes, or several kills: CI runs it
def test_a_kill_during_reembed_is_undone_on_the_next_open(home: Path) -> None:
    with EpisodeStore(home=home) as store:
        store.add_many([episode(i, batch="more") for i in range(600)])  # more than one page of the copy
    before = exported(home)
    killed = subprocess.run(
        [sys.executable, "-c", "from webcoach.memory.store import EpisodeStore as S; from webcoach.memory.embed import "
         "HashingEmbedder as H; S().reembed(H(dim=128))"],
        env={**os.environ, "WEBCOACH_HOME": str(home), ENV_FAULT: "reembed-copying"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    assert exported(home) == before
    with EpisodeStore(home=home) as store:  # the half copy is dropped; the namespace keeps its embedder
        assert store.embedder.dim == 384 and store.count() == len(before)
    assert searchable(home, episode(9, batch="more"))


@pytest.mark.slow  # thousands of episodes, or several kills: CI runs it
def test_kills_during_compact_lose_nothing(home: Path) -> None:
    with EpisodeStore(home=home) as store:
        store.add_many([episode(i, batch="more") for i in range(2000)])
        for i in range(0, 2000, 3):
            store.forget(episode(i, batch="more").id)  # free pages for the vacuum to give back
    before = exported(home)
    for delay in (0.3, 0.8, 1.5):
        proc = subprocess.Popen([WEBCOACH, "memory", "compact"], env={**os.environ, "WEBCOACH_HOME": str(home)})
        time.sleep(delay)
        proc.kill()
        proc.wait(timeout=30)
        assert exported(home) == before, delay
    assert cli(home, "memory", "compact").returncode == 0
    assert exported(home) == before and searchable(home, episode(4, batch="more"))


def test_a_restored_backup_of_the_record_file_keeps_its_episodes(home: Path) -> None:
    chroma = home / "chroma"
    backup = (chroma / FILE_NAME).read_bytes()
    before = exported(home)
    with EpisodeStore(home=home) as store:
        store.add_many([episode(i, batch="new") for i in range(5)])
    (chroma / FILE_NAME).unlink()
    assert cli(home, "memory", "stats").returncode == 0 and (chroma / FILE_NAME).exists() is False  # nothing deleted
    (chroma / FILE_NAME).write_bytes(backup)  # the backup put back
    assert exported(home) == before
    with EpisodeStore(home=home) as store:  # a writer: the 5 newer vectors have no text left: copied aside, removed
        assert store.count() == len(before)
    assert exported(home) == before and searchable(home, episode(3))
    (copy,) = (chroma / REPAIR_DIR).glob("*.jsonl")
    assert len(copy.read_text().splitlines()) == 5


def test_restored_chroma_files_with_equal_counts_are_noticed_and_repaired(home: Path, tmp_path: Path) -> None:
    chroma = home / "chroma"
    saved = tmp_path / "chroma-backup"
    shutil.copytree(chroma, saved, ignore=shutil.ignore_patterns(FILE_NAME, "webcoach.lock"))
    forgotten, newer = episode(2), episode(0, batch="newer")
    with EpisodeStore(home=home) as store:
        assert store.forget(forgotten.id)
        store.add(newer)  # as many episodes as before: counts alone cannot tell
    before = exported(home)
    for p in saved.iterdir():  # Chroma's files put back from the older backup
        target = chroma / p.name
        if target.is_dir():
            shutil.rmtree(target)
        (shutil.copytree if p.is_dir() else shutil.copy2)(p, target)
    stats = cli(home, "memory", "stats")
    assert stats.returncode == 0 and "memory repair" in stats.stderr
    assert exported(home) == before
    imported = cli(home, "memory", "import", str(jsonl(tmp_path / "newer.jsonl", [newer])))
    assert imported.returncode == 0 and "imported 0 episodes" in imported.stdout  # stored, and now found again
    assert exported(home) == before
    assert searchable(home, newer) and not searchable(home, forgotten)


@pytest.mark.slow  # thousands of episodes, or several kills: CI runs it
def test_an_unreadable_index_reads_from_the_records_and_is_built_again(home: Path) -> None:
    with EpisodeStore(home=home) as store:
        store.add_many([episode(i, batch="more") for i in range(1100)])  # Chroma writes its index files every 1,000
    before = exported(home)
    (pickle,) = (home / "chroma").glob("*/index_metadata.pickle")
    pickle.write_bytes(pickle.read_bytes()[:40])  # what a full disk left behind
    assert exported(home) == before  # listing and export read the records
    search = cli(home, "memory", "search", "find item")
    assert search.returncode == 1 and "memory repair" in search.stderr and len(search.stderr.strip().splitlines()) <= 2
    repaired = cli(home, "memory", "repair")
    assert repaired.returncode == 0 and "built the index again" in repaired.stdout, repaired.stdout + repaired.stderr
    assert exported(home) == before and searchable(home, episode(5))


# -- a full disk (a small tmpfs) ------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("a full disk is made with a small tmpfs, which needs root on Linux")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or done.returncode})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path, leave: int) -> Path:
    filler = folder / "filler"
    free = shutil.disk_usage(folder).free
    with filler.open("wb") as f:
        f.truncate(0)
        chunk = b"\0" * 2**16
        remaining = max(0, free - leave)
        while remaining > 0:
            try:
                remaining -= f.write(chunk[: min(len(chunk), remaining)])
            except OSError:
                break
    return filler


def test_a_full_disk_refuses_writes_in_one_line_and_reads_still_work(small_disk: Path) -> None:
    home = small_disk / "home"
    with EpisodeStore(home=home, embedder="hashing") as store:
        store.add_many([episode(i) for i in range(30)])
    before = exported(home)
    extra = jsonl(small_disk.parent / "extra.jsonl", [episode(i, batch="full") for i in range(40)])
    filler = fill(small_disk, leave=2 * 2**20)
    refused = cli(home, "memory", "import", str(extra))
    assert refused.returncode == 1 and "nearly full" in refused.stderr and "nothing was written" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    for args in (
        ["memory", "stats"],
        ["memory", "search", "find item"],
        ["advise", "find item 3", "--url", "https://shop.example.com/"],
    ):
        done = cli(home, *args)
        assert done.returncode == 0, (args, done.stderr)
    assert exported(home) == before
    filler.unlink()
    assert cli(home, "memory", "import", str(extra)).returncode == 0
    after = exported(home)
    assert after >= before and len(after - before) == 40


def test_a_disk_that_fills_during_a_write_loses_nothing_stored_and_messages_stay_true(small_disk: Path) -> None:
    """The margin turned off: the write runs into the full disk itself. What it says it stored is stored; what was
    stored before stays; once space is back, the next writer repairs whatever the disk cut short."""
    home = small_disk / "home"
    with EpisodeStore(home=home, embedder="hashing") as store:
        store.add_many([episode(i) for i in range(30)])
    before = exported(home)
    extra = [episode(i, batch="cut") for i in range(300)]
    source = jsonl(small_disk.parent / "extra.jsonl", extra)
    filler = fill(small_disk, leave=256 * 2**10)
    failed = cli(home, "memory", "import", str(source), env={"WEBCOACH_MIN_FREE_MB": "0"})
    assert failed.returncode != 0 or "added" in failed.stdout
    assert exported(home) >= before  # reads work on the full disk, and lost nothing
    filler.unlink()
    repaired = cli(home, "memory", "repair")
    assert repaired.returncode == 0, repaired.stderr
    after = exported(home)
    assert after >= before and len(after - before) <= len(extra)
    if failed.returncode != 0 and "kept" not in failed.stderr:
        assert after == before  # a failed import that did not say it kept records kept none
    assert searchable(home, episode(4))


def test_reads_work_on_a_disk_with_no_room_at_all_and_writes_say_so_in_one_line(small_disk: Path) -> None:
    home = small_disk / "home"
    with EpisodeStore(home=home, embedder="hashing") as store:
        store.add_many([episode(i) for i in range(5)])
    before = exported(home)
    filler = fill(small_disk, leave=0)
    assert exported(home) == before  # from the record file alone: Chroma cannot even open without room
    for args in (["memory", "stats"], ["memory", "list"]):
        done = cli(home, *args)
        assert done.returncode == 0, (args, done.stderr)
    search = cli(home, "memory", "search", "find item")
    assert search.returncode == 1 and "error: cannot search" in search.stderr and "free some space" in search.stderr
    with pytest.raises(StoreError, match="disk") as err, EpisodeStore(home=home) as store:
        store.add(episode(1, batch="x"))
    assert "\n" not in str(err.value) and "free some space" in str(err.value)
    filler.unlink()
    assert exported(home) == before


def test_server_site_counts_that_drifted_are_counted_again_by_a_writer(chroma_server: tuple[str, object]) -> None:
    """On a Chroma server the counts live in a side collection: a kill between an add and its count leaves them short
    (a site with 3 episodes counted 0 got 2 of them into the top 5 at 80k). A writer's open notices (their sum is not
    the number of episodes) and counts again; `memory repair` does too."""
    url, _ = chroma_server
    here = [episode(i) for i in range(0, 30, 3)]  # all on shop.example.com
    with EpisodeStore(url=url, embedder="hashing") as store:
        store.add_many([episode(i) for i in range(30)])
        before = {e.id for e in store.list()}
        store._sites._save.upsert(ids=["example.com"], embeddings=[[1.0]], metadatas=[{"n": 0}])  # type: ignore[union-attr]
    with EpisodeStore(url=url, read_only=True) as reader:  # a read changes nothing, and the drift shows
        assert reader._sites.count("example.com") == 0  # sites are registrable domains
    with EpisodeStore(url=url) as writer:
        assert writer._sites.count("example.com") == len(here)
        hits = writer.search(here[0].task, url="https://shop.example.com/", k=5)
        assert len(hits) == 5 and all(h.same_site for h in hits)
        assert {e.id for e in writer.list()} == before
        assert writer.repair().plan.records == len(before)


def test_records_filed_under_a_site_their_start_url_no_longer_gives_are_filed_again(tmp_path: Path) -> None:
    """Stores written before a local host was host:port file the demo's runs under "127.0.0.1": scoping reads the
    start URL and is right, but ranking reads the site index, and a search on the shop's own port found them as
    another site's. An explicit repair files them again (record, vector and count); ids and texts stay."""
    home = tmp_path / "home"
    local = [
        Episode.model_validate({**episode(i).model_dump(), "start_url": "http://127.0.0.1:8123/start", "id": f"local{i:011d}"})
        for i in range(3)
    ]
    with EpisodeStore(home=home, embedder="hashing") as store:
        store.add_many([episode(i) for i in range(6)] + local)
        before = store_set(store)
        chroma = Path(store.location)
    assert {e.domain for e in local} == {"127.0.0.1:8123"}
    with sqlite3.connect(chroma / FILE_NAME) as db:  # what the older webcoach wrote into the site index
        db.execute('UPDATE "episodes-default" SET site = ? WHERE id LIKE ?', ("127.0.0.1", "local%"))
    with EpisodeStore(home=home, embedder="hashing") as store:
        store._collection.update(ids=[e.id for e in local], metadatas=[{"site": "127.0.0.1"}] * 3)
        assert dict(store.stats().by_domain)["127.0.0.1"] == 3
        assert not any(h.same_site for h in store.search("find item", url="http://127.0.0.1:8123/start", k=9))

        dry = store.repair(dry_run=True)
        assert len(dry.plan.to_refile) == 3 and "filed under a site" in dry.line()
        assert dict(store.stats().by_domain)["127.0.0.1"] == 3  # a dry run changes nothing
        done = store.repair()
        assert done.refiled == 3 and "filed 3 record(s)" in done.line(), done.line()

        assert dict(store.stats().by_domain)["127.0.0.1:8123"] == 3 and "127.0.0.1" not in dict(store.stats().by_domain)
        hits = store.search("find item", url="http://127.0.0.1:8123/start", k=9)
        assert {h.episode.id for h in hits if h.same_site} == {e.id for e in local}
        assert store_set(store) == before
        assert store.repair(dry_run=True).plan.to_refile == ()


def store_set(store: EpisodeStore) -> set[str]:
    return {e.model_dump_json(exclude={"helped", "hurt"}) for e in store.episodes()}
