"""The records of an embedded store (layout 3, records.py) in a SQLite file beside Chroma's: `RecordsDB`.

Chroma keeps each vector and its site only; this file keeps per episode the ranking fields and the deflated body, one
table per namespace in `webcoach-records.sqlite3` (0600, like every store file). A search asks Chroma for distances
alone, then reads its candidates' fields here by primary key (~0.1 ms for 32) and the bodies of the k it returns.
Chroma reading its metadata for 32 candidates cost ~0.7x the query itself, and its indexes over every string value
(the body too) made up a third of the store on disk.

This file is the store's one source of truth; Chroma's vectors are an index derived from it (repair.py rebuilds them
from the rows). The store commits rows here before it adds their vectors, and a `forget` deletes the row before the
vector, so a crash leaves at worst a row without a vector (indexed by the next repair) or a vector without a row (a
forgotten episode: removed by the next repair). Every put or drop adds 1 to the namespace's generation, in the same
transaction; the store copies it into Chroma's collection metadata when it closes cleanly, so an open that finds the two
equal (and the counts too) knows the index is whole without reading it, and one that does not (a kill, a backup of one
file put back) compares them. A rollback journal with synchronous=FULL, as Chroma's own file: a row is on disk when its
commit returns, and no write-ahead log grows beside the file between checkpoints. One process holds an embedded store
(lock.py); its threads share one connection under a lock. Opened `read_only`, nothing here is created or written: a
missing file or namespace reads as empty (`missing`).

Stdlib sqlite3 only: store.py, the one chromadb module, does every Chroma call (see chroma_records.Records)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from webcoach.condenser.episode import Episode
from webcoach.errors import StoreError
from webcoach.memory.chroma_records import OLD_KEYS, Meta
from webcoach.memory.files import FILE_MODE
from webcoach.memory.records import BODY_KEY, EMBEDDED_LAYOUT, RANK_KEYS, decode, deflate, fields, pack, rank_fields, unarmor

log = logging.getLogger("webcoach")

FILE_NAME = "webcoach-records.sqlite3"
_CHUNK = 500  # ids per IN (...): far under SQLite's variable limit
_COLUMNS = ", ".join(RANK_KEYS)  # the body last: reading the fields alone never walks over it
# What a layout-1 or -2 record moved here leaves in Chroma's metadata besides its site: nothing.
_STRIP: dict[str, None] = {BODY_KEY: None, "outcome": None, "created_at": None, "helped": None, "hurt": None, **OLD_KEYS}

Row = tuple[str, str, str, float, int, int, bytes | str]  # id, *RANK_KEYS, body


def _row(episode: Episode) -> Row:
    f = fields(episode)
    return (episode.id, str(f["site"]), str(f["outcome"]), float(f["created_at"]), episode.helped, episode.hurt, pack(episode))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class RecordsDB:
    """Layout 3: the records of one namespace of an embedded store."""

    layout = EMBEDDED_LAYOUT
    include: tuple[str, ...] = ()  # Chroma returns ids (and distances or vectors) only

    def __init__(self, folder: Path, namespace: str, *, read_only: bool = False) -> None:
        self.path = folder / FILE_NAME
        self.namespace = namespace
        # Namespaces are letters, digits, '-' and '_' (settings.check_namespace): safe inside double quotes.
        self._table = f'"episodes-{namespace}"'
        self._guard = threading.Lock()
        self.read_only = read_only
        self.missing = False  # read-only, and the file or this namespace's table is not there: reads as empty
        try:
            if read_only:
                self._conn = self._open_read_only()
            else:
                # Created 0600 before SQLite opens it; its journal takes the same mode.
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), FILE_MODE))
                self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            raise self._failed("open the record file", exc) from exc
        try:
            self._prepare(namespace)
        except StoreError:
            self._conn.close()
            raise

    def _open_read_only(self) -> sqlite3.Connection:
        if self.path.is_file():
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30, isolation_level=None, check_same_thread=False
            )
            try:
                found = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (self._table.strip('"'),)
                ).fetchone()
            except sqlite3.Error:
                conn.close()
                raise
            if found:
                return conn
            conn.close()
        self.missing = True  # an empty stand-in: reads answer "nothing", and nothing is created on disk
        return sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)

    def _prepare(self, namespace: str) -> None:
        if self.read_only and not self.missing:
            return  # the tables are there, and a read-only connection may not touch the file's settings
        with self._use("open the record file") as conn:
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("PRAGMA synchronous=FULL")  # durable on power loss once add() returns
            conn.execute("CREATE TABLE IF NOT EXISTS webcoach_meta (key TEXT PRIMARY KEY NOT NULL, value NOT NULL)")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} (id TEXT PRIMARY KEY NOT NULL, site TEXT NOT NULL, "
                "outcome TEXT NOT NULL, created_at REAL NOT NULL, helped INTEGER NOT NULL, hurt INTEGER NOT NULL, "
                "body BLOB NOT NULL)"
            )
            # Newest-first listing; per-site counts (sites.py reads them on open); searches look rows up by id.
            conn.execute(f'CREATE INDEX IF NOT EXISTS "episodes-{namespace}-created" ON {self._table} (created_at)')
            conn.execute(f'CREATE INDEX IF NOT EXISTS "episodes-{namespace}-site" ON {self._table} (site)')

    def _failed(self, action: str, exc: BaseException) -> StoreError:
        if "disk is full" in str(exc).lower() or getattr(exc, "errno", None) == errno.ENOSPC:
            return StoreError(f"cannot {action} in {self.path}: the disk is full; nothing was changed: free some space and retry")
        return StoreError(
            f"cannot {action} in {self.path} ({_one_line(exc)}): check that the disk has space and the file is "
            "yours and writable; if it is damaged, restore the store from an export"
        )

    @contextmanager
    def _use(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._guard:
            try:
                yield self._conn
            except (sqlite3.Error, OSError) as exc:
                raise self._failed(action, exc) from exc

    @contextmanager
    def _write(self, action: str, *, changes_rows: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction; `changes_rows` (a put or drop) adds 1 to the namespace's generation in it."""
        if self.read_only:
            raise StoreError(f"cannot {action}: the store was opened read-only (a command that only reads)")
        with self._use(action) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                if changes_rows:
                    conn.execute(
                        "INSERT INTO webcoach_meta (key, value) VALUES (?, 1) ON CONFLICT(key) DO UPDATE SET value = value + 1",
                        (self._gen_key,),
                    )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    # SQLite may have rolled back itself (a full disk): the error that did it is the one to tell.
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    @property
    def _gen_key(self) -> str:
        return f"gen:{self.namespace}"

    def embedder(self) -> str | None:
        """The embedder this namespace's vectors were made with, as recorded when they were (None: not recorded)."""
        return self._meta(f"embedder:{self.namespace}")

    def set_embedder(self, name: str) -> None:
        if self._meta(f"embedder:{self.namespace}") != name:
            with self._write("record the embedder") as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO webcoach_meta (key, value) VALUES (?, ?)", (f"embedder:{self.namespace}", name)
                )

    def _meta(self, key: str) -> str | None:
        if self.missing:
            return None
        with self._use("read the record file") as conn:
            try:
                row = conn.execute("SELECT value FROM webcoach_meta WHERE key = ?", (key,)).fetchone()
            except sqlite3.OperationalError:  # a read-only open of a file from before this table
                return None
        return None if row is None else str(row[0])

    def gen(self) -> int:
        """How many puts and drops this namespace has seen (0 for a file from before generations)."""
        value = self._meta(self._gen_key)
        return int(value) if value is not None else 0

    # -- the Records interface (chroma_records.Records) ------------------------------------------------------------

    def chroma_metadata(self, episode: Episode) -> dict[str, str | int | float]:
        return {"site": str(fields(episode)["site"])}  # for a query filtered on a big site (store.search)

    def put(self, episodes: Sequence[Episode]) -> None:
        self._put([_row(e) for e in episodes])

    def _put(self, rows: Sequence[Row], *, new: bool = True) -> None:
        if rows:
            with self._write("store episodes", changes_rows=new) as conn:
                conn.executemany(f"INSERT OR REPLACE INTO {self._table} (id, {_COLUMNS}, body) VALUES (?,?,?,?,?,?,?)", rows)

    def drop(self, ids: Sequence[str]) -> None:
        with self._write("delete episodes", changes_rows=True) as conn:
            for chunk in _chunks(ids):
                conn.execute(f"DELETE FROM {self._table} WHERE id IN ({_marks(chunk)})", chunk)

    def metas(self, ids: Sequence[str], given: Sequence[Meta] | None, *, body: bool) -> dict[str, Meta]:
        columns = f"id, {_COLUMNS}, " + ("body" if body else "NULL")
        found: dict[str, Meta] = {}
        with self._use("read episodes") as conn:
            for chunk in _chunks(ids):
                sql = f"SELECT {columns} FROM {self._table} WHERE id IN ({_marks(chunk)})"
                # A dict literal per row: a search reads 32 of these, and dict(zip(...)) cost twice as much.
                for i, site, outcome, created_at, helped, hurt, packed in conn.execute(sql, chunk):
                    meta = {"site": site, "outcome": outcome, "created_at": created_at, "helped": helped, "hurt": hurt}
                    if body:
                        meta[BODY_KEY] = packed
                    found[i] = meta
        return found

    def bump(self, ids: Sequence[str], key: str) -> dict[str, Meta]:
        if key not in ("helped", "hurt"):
            raise ValueError(f"not a counter: {key!r}")
        changes: dict[str, Meta] = {}
        with self._write("update episodes") as conn:
            for chunk in _chunks(list(dict.fromkeys(ids))):
                sql = f"UPDATE {self._table} SET {key} = max(0, {key}) + 1 WHERE id IN ({_marks(chunk)}) RETURNING id, {key}"
                changes.update((i, {key: n}) for i, n in conn.execute(sql, chunk).fetchall())
        return changes

    def rewrite(self, episode: Episode) -> Meta:
        self._put([_row(episode)], new=False)  # the same id and text: the vector still fits
        return dict(fields(episode))

    def rewrite_many(self, episodes: Sequence[Episode]) -> None:
        self._put([_row(e) for e in episodes], new=False)

    def relayout(self, ids: Sequence[str], metas: Sequence[Meta]) -> tuple[list[str], list[Meta]]:
        """Layout-1 and -2 records of one page of the collection: their rows are committed here, then the caller strips
        their Chroma metadata to the site. A record already moved (no body in Chroma) is left alone, so a move cut
        short by a crash is finished, never repeated, when the store next opens."""
        rows = [row for i, m in zip(ids, metas, strict=True) if (row := _moved_row(i, m)) is not None]
        self._put(rows, new=False)  # moved beside vectors that are already there
        return [r[0] for r in rows], [{"site": r[1], **_STRIP} for r in rows]

    def ids(self) -> dict[str, str]:
        """id -> site of every record (repair compares them with Chroma's vectors)."""
        with self._use("read episodes") as conn:
            return {str(i): str(site) for i, site in conn.execute(f"SELECT id, site FROM {self._table}")}

    def existing(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self._use("look up ids") as conn:
            for chunk in _chunks(ids):
                found.update(
                    str(i) for (i,) in conn.execute(f"SELECT id FROM {self._table} WHERE id IN ({_marks(chunk)})", chunk)
                )
        return found

    def site_counts(self) -> Counter[str]:
        """Records per site, from the site index (~10 ms at 100k): counts derived on open never drift."""
        with self._use("count episodes") as conn:
            sql = f"SELECT site, count(*) FROM {self._table} WHERE site != '' GROUP BY 1"
            return Counter({str(s): int(n) for s, n in conn.execute(sql)})

    def count(self) -> int:
        with self._use("count episodes") as conn:
            return int(conn.execute(f"SELECT count(*) FROM {self._table}").fetchone()[0])

    def ordered(self) -> list[tuple[float, str]]:
        with self._use("read episodes") as conn:
            return [(float(t), str(i)) for t, i in conn.execute(f"SELECT created_at, id FROM {self._table} ORDER BY 1, 2")]

    def newest(self, n: int) -> list[str]:
        with self._use("read episodes") as conn:
            sql = f"SELECT id FROM {self._table} ORDER BY created_at DESC, id DESC LIMIT ?"
            return [str(i) for (i,) in conn.execute(sql, (n,))]

    def tallies(self) -> tuple[Counter[str], Counter[str]]:
        with self._use("count episodes") as conn:
            outcomes = Counter(
                {str(o): int(n) for o, n in conn.execute(f"SELECT outcome, count(*) FROM {self._table} GROUP BY 1")}
            )
            sql = f"SELECT site, count(*) FROM {self._table} WHERE site != '' GROUP BY 1"
            sites = Counter({str(s): int(n) for s, n in conn.execute(sql)})
        return outcomes, sites

    def pages(self, size: int) -> Iterator[tuple[list[str], list[Meta]]]:
        after = 0
        while True:
            with self._use("read episodes") as conn:
                sql = f"SELECT rowid, id, {_COLUMNS}, body FROM {self._table} WHERE rowid > ? ORDER BY rowid LIMIT ?"
                rows = conn.execute(sql, (after, size)).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            yield [r[1] for r in rows], [dict(zip((*RANK_KEYS, BODY_KEY), r[2:], strict=True)) for r in rows]

    def close(self) -> None:
        with self._use("close the record file") as conn:
            conn.close()

    @staticmethod
    def vacuum(folder: Path) -> None:
        """Give the free pages of the record file beside an embedded store back to the disk (`forget`s leave them). The
        caller holds the store's lock with no RecordsDB open on it; a store with no record file yet has nothing to do."""
        path = folder / FILE_NAME
        if not path.is_file():
            return
        try:
            # VACUUM rewrites the file in place (same inode and mode); it needs room for a temporary copy meanwhile.
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            try:
                conn.execute("VACUUM")
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"cannot compact the record file {path} ({_one_line(exc)}): check that the disk has room for a copy of "
                "it and the file is yours and writable"
            ) from exc


def _moved_row(record_id: str, old: Meta) -> Row | None:
    """The row of a layout-1 or -2 record, made so that `decode` reads it as it read the Chroma metadata (an unreadable
    or newer record stays so, with the same message); None for a record with no body in Chroma."""
    helped, hurt = int(old.get("helped", 0)), int(old.get("hurt", 0))
    if BODY_KEY in old:
        text = str(old[BODY_KEY])
        try:
            body: bytes | str = unarmor(text)
        except ValueError:
            body = text
        site, outcome, created_at = old.get("site"), old.get("outcome"), old.get("created_at", 0.0)
        return (record_id, str(site or ""), str(outcome or "unknown"), float(created_at), helped, hurt, body)
    if "episode" not in old:
        return None
    try:
        episode = decode(record_id, old, what=f"episode {record_id}")
    except StoreError:  # kept word for word: decoding says again what is wrong (or, after an upgrade, reads it)
        raw, site = str(old["episode"]), rank_fields(old).site
        return (record_id, site or "", "unknown", float(old.get("created_at", 0.0)), helped, hurt, deflate(raw))
    return _row(episode)


def _chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    batch = list(ids)
    for start in range(0, len(batch), _CHUNK):
        yield batch[start : start + _CHUNK]


def _marks(chunk: Sequence[Any]) -> str:
    return ",".join("?" * len(chunk))
