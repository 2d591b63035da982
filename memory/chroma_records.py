"""Where a store keeps its records, behind one interface (`Records`), and the Chroma-server kind (layout 2, records.py).

The store adds and deletes vectors in Chroma either way; a `Records` object says what goes beside each vector and
reads, counts, orders and updates the records. Against a Chroma server (many processes, no shared disk) the records
live in Chroma's metadata: `ChromaRecords`, here. An embedded store keeps them in a SQLite file beside Chroma's
(records_db.RecordsDB, layout 3), so Chroma reads no metadata during a search.

No chromadb here (store.py is the one module that imports it): the collection comes in as a `RecordCollection`, and
every call into it runs inside the store's `wrap(action)`, which turns Chroma's errors into one-line StoreErrors."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from webcoach.condenser.episode import Episode
from webcoach.errors import StoreError
from webcoach.memory.records import BODY_KEY, SERVER_LAYOUT, decode, encode, rank_fields

Meta = dict[str, Any]
Wrap = Callable[[str], AbstractContextManager[None]]
# Layout-1 keys, cleared whenever a record is rewritten in the current layout.
OLD_KEYS: dict[str, None] = {"episode": None, "domain": None, "schema_version": None}
BATCH = 500  # records per Chroma get/update: under Chroma's max batch and SQLite's variable limit
_PAGE = 5000


class RecordCollection(Protocol):
    """The part of a Chroma collection used here (store.py hands one in)."""

    def get(self, *args: Any, **kwargs: Any) -> Any: ...

    def update(self, *args: Any, **kwargs: Any) -> Any: ...


class Records(Protocol):
    """What the store asks of wherever its records live."""

    layout: int
    include: tuple[str, ...]  # what a Chroma query or get must return beside ids for `metas` to answer
    missing: bool  # opened read-only where there are none yet (a lost record file): everything reads as empty

    def chroma_metadata(self, episode: Episode) -> dict[str, str | int | float]:
        """What Chroma keeps beside the episode's vector."""
        ...

    def put(self, episodes: Sequence[Episode]) -> None:
        """Make the records of episodes about to be added to Chroma durable (before their vectors)."""
        ...

    def drop(self, ids: Sequence[str]) -> None:
        """Forget the records of ids whose vectors are gone from Chroma (or never got there)."""
        ...

    def metas(self, ids: Sequence[str], given: Sequence[Meta] | None, *, body: bool) -> dict[str, Meta]:
        """id -> record of the ids that have one; `given`: the metadata Chroma returned for ids (per `include`);
        `body`: with the episode body, or the ranking fields alone."""
        ...

    def bump(self, ids: Sequence[str], key: str) -> dict[str, Meta]:
        """Add 1 to `helped` or `hurt` of these records; id -> changed fields of those found."""
        ...

    def rewrite(self, episode: Episode) -> Meta:
        """Store an episode's new content under its id (a review); returns its ranking fields."""
        ...

    def relayout(self, ids: Sequence[str], metas: Sequence[Meta]) -> tuple[list[str], list[Meta]]:
        """Records of an older layout among one page of a collection: their ids and the Chroma metadata to update
        them to (records moved elsewhere are made durable there first)."""
        ...

    def gen(self) -> int:
        """How many puts and drops the records have seen (the store compares it with the index's copy on open)."""
        ...

    def ids(self) -> dict[str, str]:
        """id -> site of every record."""
        ...

    def existing(self, ids: Sequence[str]) -> set[str]:
        """The ids among these that have a record."""
        ...

    def site_counts(self) -> Counter[str]:
        """Records per site."""
        ...

    def ordered(self) -> list[tuple[float, str]]:
        """(created_at, id) of every record, oldest first."""
        ...

    def newest(self, n: int) -> list[str]:
        """Ids of the n newest records, newest first."""
        ...

    def tallies(self) -> tuple[Counter[str], Counter[str]]:
        """Records per outcome and per site."""
        ...

    def pages(self, size: int) -> Iterator[tuple[list[str], list[Meta]]]:
        """Every record with its body, `size` at a time."""
        ...

    def close(self) -> None: ...


class ChromaRecords:
    """Layout 2: every record in Chroma's metadata, beside its vector (Chroma servers)."""

    layout = SERVER_LAYOUT
    include: tuple[str, ...] = ("metadatas",)
    missing = False

    def __init__(self, collection: Callable[[], RecordCollection], wrap: Wrap) -> None:
        self._collection = collection  # a callable: a reembed replaces the store's collection
        self._wrap = wrap

    def chroma_metadata(self, episode: Episode) -> dict[str, str | int | float]:
        return encode(episode)

    def put(self, episodes: Sequence[Episode]) -> None:
        pass  # they go into Chroma with their vectors

    def drop(self, ids: Sequence[str]) -> None:
        pass  # they left Chroma with their vectors

    def metas(self, ids: Sequence[str], given: Sequence[Meta] | None, *, body: bool) -> dict[str, Meta]:
        if given is not None:
            return {i: dict(m) for i, m in zip(ids, given, strict=True)}
        found: dict[str, Meta] = {}
        for start in range(0, len(ids), BATCH):
            with self._wrap("read episodes"):
                page = self._collection().get(ids=list(ids[start : start + BATCH]), include=["metadatas"])
            found.update((i, dict(m)) for i, m in zip(page["ids"], page["metadatas"] or [], strict=True))
        return found

    def bump(self, ids: Sequence[str], key: str) -> dict[str, Meta]:
        changes: dict[str, Meta] = {}
        for record_id, meta in self.metas(ids, None, body=True).items():
            if BODY_KEY in meta:  # the counters live beside the body: bump them alone
                changes[record_id] = {key: max(0, int(meta.get(key, 0))) + 1}
            else:  # layout 1: rewritten whole, in the current layout
                episode = decode(record_id, meta, what=f"episode {record_id}")
                changes[record_id] = {**encode(episode.model_copy(update={key: getattr(episode, key) + 1})), **OLD_KEYS}
        if changes:
            with self._wrap("update episodes"):
                self._collection().update(ids=list(changes), metadatas=list(changes.values()))
        return {i: {k: v for k, v in m.items() if v is not None} for i, m in changes.items()}

    def rewrite(self, episode: Episode) -> Meta:
        record = encode(episode)
        with self._wrap("update an episode"):
            self._collection().update(ids=[episode.id], metadatas=[{**record, **OLD_KEYS}])
        return dict(record)

    def relayout(self, ids: Sequence[str], metas: Sequence[Meta]) -> tuple[list[str], list[Meta]]:
        """Layout-1 records (whole JSON in metadata) rewritten to layout 2. A record that cannot be read is left as it
        is: reading it later says what is wrong and how to remove it."""
        moved: list[str] = []
        rewritten: list[Meta] = []
        for record_id, old in zip(ids, metas, strict=True):
            if BODY_KEY in old:
                continue
            try:
                episode = decode(record_id, old, what=f"episode {record_id}")
            except StoreError:
                continue
            moved.append(record_id)
            rewritten.append({**encode(episode), **OLD_KEYS})
        return moved, rewritten

    def gen(self) -> int:
        return 0  # one Chroma write holds vector and record: they cannot disagree

    def ids(self) -> dict[str, str]:
        return {i: rank_fields(m).site or "" for ids, metas in self._scan() for i, m in zip(ids, metas, strict=True)}

    def existing(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), BATCH):
            with self._wrap("look up ids"):
                found.update(self._collection().get(ids=list(ids[start : start + BATCH]), include=[])["ids"])
        return found

    def site_counts(self) -> Counter[str]:
        return self.tallies()[1]

    def _scan(self, where: Meta | None = None) -> Iterator[tuple[list[str], list[Meta]]]:
        """Every record (matching `where`), in pages: one get() of 100k records exceeds SQLite's variable limit."""
        offset = 0
        while True:
            with self._wrap("read episodes"):
                found = self._collection().get(where=where, limit=_PAGE, offset=offset, include=["metadatas"])
            if not found["ids"]:
                return
            yield found["ids"], [dict(m) for m in found["metadatas"] or [{}] * len(found["ids"])]
            offset += len(found["ids"])

    def _sorted(self, where: Meta | None = None) -> list[tuple[float, str]]:
        keys: list[tuple[float, str]] = []
        for ids, metas in self._scan(where):  # Chroma has no ORDER BY: we sort on our side
            keys.extend((float(m.get("created_at", 0.0)), i) for i, m in zip(ids, metas, strict=True))
        return sorted(keys)

    def ordered(self) -> list[tuple[float, str]]:
        return self._sorted()

    def newest(self, n: int) -> list[str]:
        """Reading every record costs ~5 s at 100k, so look back from now through widening windows (ids only, cheap)
        and read metadata only for the first window holding n records."""
        now = time.time()
        span = 86400.0
        while now - span > 0:
            where = {"created_at": {"$gte": now - span}}
            with self._wrap("read episodes"):
                found = len(self._collection().get(where=where, include=[])["ids"])
            if found >= n:
                return [i for _, i in reversed(self._sorted(where))][:n]
            span *= 8
        return [i for _, i in reversed(self._sorted())][:n]

    def tallies(self) -> tuple[Counter[str], Counter[str]]:
        outcomes: Counter[str] = Counter()
        sites: Counter[str] = Counter()
        for _ids, metas in self._scan():
            for m in metas:
                outcomes[str(m.get("outcome", "unknown"))] += 1
                site = rank_fields(m).site
                if site:
                    sites[site] += 1
        return outcomes, sites

    def pages(self, size: int) -> Iterator[tuple[list[str], list[Meta]]]:
        yield from self._scan()

    def close(self) -> None:
        pass
