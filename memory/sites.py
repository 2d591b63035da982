"""How many episodes each site has in a namespace: search asks for a site's own episodes (a filtered query, the one way
to reach a site the approximate vector index loses among 100k others) only when memory holds more of them than the
nearest neighbours showed, and never for a site memory has not seen.

Counts are an index derived from the records, like the vectors, and kept where they cannot drift for long:
- embedded: counted from the record file when the store opens (one GROUP BY over its site index, ~10 ms at 100k),
  then kept in step by this process's adds and forgets; nothing is persisted, so a kill between a write and its count
  leaves nothing wrong behind;
- Chroma server: in a small side collection of the namespace (one record per site, id = the site, count in metadata),
  because counting every record there costs seconds. A writer that finds the counts' sum differs from the number of
  episodes (a kill between Chroma's add and the count's update) counts again from the records (`rebuild`). Other
  processes add too, so the counts are re-read after `SERVER_TTL_S` and may lag that long."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

SERVER_TTL_S = 30.0
_PAGE = 5000


class SiteCollection(Protocol):
    """The part of a Chroma collection this module uses (store.py hands one in: only it imports chromadb)."""

    def get(self, *args: Any, **kwargs: Any) -> Any: ...

    def upsert(self, *args: Any, **kwargs: Any) -> Any: ...

    def delete(self, *args: Any, **kwargs: Any) -> Any: ...


def read_counts(collection: SiteCollection) -> Counter[str]:
    counts: Counter[str] = Counter()
    offset = 0
    while True:
        page = collection.get(limit=_PAGE, offset=offset, include=["metadatas"])
        if not page["ids"]:
            return counts
        for site, meta in zip(page["ids"], page["metadatas"] or [], strict=True):
            counts[str(site)] = int((meta or {}).get("n", 0))
        offset += len(page["ids"])


class SiteCounts:
    def __init__(
        self, load: Callable[[], Counter[str]], *, save: SiteCollection | None = None, ttl_s: float | None = None
    ) -> None:
        """`load()` reads the counts; `save`: the side collection they are written to (a server), else kept in memory."""
        self._load = load
        self._save = save
        self._ttl_s = ttl_s
        self._counts: Counter[str] = Counter()
        self._read_at = 0.0
        self._reload()

    def _reload(self) -> None:
        self._counts, self._read_at = self._load(), time.monotonic()

    def count(self, site: str) -> int:
        if self._ttl_s is not None and time.monotonic() - self._read_at > self._ttl_s:
            self._reload()
        return self._counts.get(site, 0)

    def total(self) -> int:
        return sum(self._counts.values())

    def change(self, deltas: Mapping[str, int]) -> None:
        """Add (or, negative, take away) episodes of these sites."""
        changed = {site: max(0, self._counts.get(site, 0) + d) for site, d in deltas.items() if site and d}
        if not changed:
            return
        self._counts.update({s: n - self._counts.get(s, 0) for s, n in changed.items()})
        if self._save is not None:
            self._save.upsert(
                ids=list(changed),
                embeddings=[[1.0]] * len(changed),  # Chroma wants a vector per record; nothing searches these
                metadatas=[{"n": n} for n in changed.values()],
            )

    def rebuild(self, sites: Iterable[str]) -> None:
        """Count from scratch (a namespace made before this index existed, or counts that drifted)."""
        counts = Counter(s for s in sites if s)
        if self._save is not None:
            stale = [s for s in self._counts if s not in counts]
            if stale:
                self._save.delete(ids=stale)
        self._counts = Counter()
        self.change(counts)
