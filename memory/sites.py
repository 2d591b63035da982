"""How many episodes each site has in a namespace: search asks for a site's own episodes (a filtered query, the one way
to reach a site the approximate vector index loses among 100k others) only when memory holds more of them than the
nearest neighbours showed, and never for a site memory has not seen.

The counts live in a small side collection of the namespace (one record per site, id = the site, count in metadata),
read once when the store opens and kept in step by this process's adds and forgets. An embedded store has one process,
so its counts are exact; against a Chroma server other processes add too, so the counts are re-read after
`SERVER_TTL_S` and may lag that long (an episode another process stored seconds ago may then be missed by site)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

SERVER_TTL_S = 30.0
_PAGE = 5000


class SiteCollection(Protocol):
    """The part of a Chroma collection this module uses (store.py hands one in: only it imports chromadb)."""

    def get(self, *args: Any, **kwargs: Any) -> Any: ...

    def upsert(self, *args: Any, **kwargs: Any) -> Any: ...


class SiteCounts:
    def __init__(self, collection: SiteCollection, *, ttl_s: float | None) -> None:
        self._collection = collection
        self._ttl_s = ttl_s
        self._counts: Counter[str] = Counter()
        self._read_at = 0.0
        self._reload()

    def _reload(self) -> None:
        counts: Counter[str] = Counter()
        offset = 0
        while True:
            page = self._collection.get(limit=_PAGE, offset=offset, include=["metadatas"])
            if not page["ids"]:
                break
            for site, meta in zip(page["ids"], page["metadatas"] or [], strict=True):
                counts[str(site)] = int((meta or {}).get("n", 0))
            offset += len(page["ids"])
        self._counts, self._read_at = counts, time.monotonic()

    def count(self, site: str) -> int:
        if self._ttl_s is not None and time.monotonic() - self._read_at > self._ttl_s:
            self._reload()
        return self._counts.get(site, 0)

    def change(self, deltas: Mapping[str, int]) -> None:
        """Add (or, negative, take away) episodes of these sites."""
        changed = {site: max(0, self._counts.get(site, 0) + d) for site, d in deltas.items() if site and d}
        if not changed:
            return
        self._counts.update({s: n - self._counts.get(s, 0) for s, n in changed.items()})
        self._collection.upsert(
            ids=list(changed),
            embeddings=[[1.0]] * len(changed),  # Chroma wants a vector per record; nothing searches these
            metadatas=[{"n": n} for n in changed.values()],
        )

    def rebuild(self, sites: Iterable[str]) -> None:
        """Count from scratch (a namespace made before this index existed)."""
        counts = Counter(s for s in sites if s)
        self._counts = Counter()
        self.change(counts)
