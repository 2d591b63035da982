"""A site's own episodes, searched exactly: the vectors and ranking fields of the sites searched lately, held in memory.

Same-site-first retrieval needs a site's nearest episodes whatever the rest of memory holds. Chroma's approximate
global index loses a site's few episodes among many others, and a query filtered on the site costs 5-30x a plain one
(measured at 10k-100k), so the first search on a site reads all of that site's vectors once (one filtered `get`:
~8 ms for 170 episodes, ~0.1 s for 1,700, at 100k) and later searches on it are a dot product over them (microseconds).
A coach searches one site step after step, so nearly every search after the first is served from here.

The store keeps entries in step with its own adds, forgets and counter updates. An embedded store has one process,
so entries are exact; against a Chroma server entries are re-read after `ttl_s`. Sites with more than `max_site`
episodes are not held (the store falls back to a filtered query), and at most `max_vectors` vectors are held in all
(~75 MB), least recently searched sites dropped first."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Neighbours = dict[str, tuple[dict[str, Any], float]]  # id -> (metadata, cosine similarity)


@dataclass
class _Entry:
    ids: list[str]
    vectors: np.ndarray  # (n, dim) bfloat16 bits (see _matrix), unit length
    metas: list[dict[str, Any]]
    loaded_at: float = field(default_factory=time.monotonic)


class SiteCache:
    def __init__(
        self,
        load: Callable[[str, int], tuple[list[str], Any, list[dict[str, Any]]] | None],
        *,
        ttl_s: float | None,
        max_site: int = 20_000,
        max_vectors: int = 100_000,  # ~75 MB at 384 dimensions
    ) -> None:
        """`load(site, limit)` returns (ids, vectors, metadatas) of the site's records, or None when it has more than
        `limit` (the store passes a Chroma `get` filtered on the site)."""
        self._load = load
        self._ttl_s = ttl_s
        self._max_site = max_site
        self._max_vectors = max_vectors
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._too_big: set[str] = set()
        self._hot: tuple[_Entry, np.ndarray] | None = None

    def nearest(self, site: str, query: np.ndarray, n: int) -> Neighbours | None:
        """The site's n nearest records by exact cosine similarity, or None when the site is too big to hold."""
        entry = self._entry(site)
        if entry is None:
            return None
        if not entry.ids:
            return {}
        if self._hot is None or self._hot[0] is not entry:
            # float32 for the site searched last only: a coach searches one site step after step.
            self._hot = (entry, _widen(entry.vectors))
        with _one_blas_thread():
            sims = self._hot[1] @ np.asarray(query, dtype=np.float32).reshape(-1)
        top = np.argsort(-sims)[:n] if len(sims) > n else range(len(sims))
        return {entry.ids[i]: (entry.metas[i], float(sims[i])) for i in top}

    def _entry(self, site: str) -> _Entry | None:
        if site in self._too_big:
            return None
        entry = self._entries.get(site)
        if entry is not None and self._ttl_s is not None and time.monotonic() - entry.loaded_at > self._ttl_s:
            entry = None
        if entry is None:
            loaded = self._load(site, self._max_site)
            if loaded is None:
                self._too_big.add(site)
                return None
            ids, vectors, metas = loaded
            entry = _Entry(ids=list(ids), vectors=_matrix(vectors), metas=[dict(m) for m in metas])
            self._entries[site] = entry
            self._evict()
        self._entries.move_to_end(site)
        return entry

    def _evict(self) -> None:
        while len(self._entries) > 1 and sum(len(e.ids) for e in self._entries.values()) > self._max_vectors:
            self._entries.popitem(last=False)

    def added(self, ids: Sequence[str], vectors: np.ndarray, metas: Sequence[dict[str, Any]]) -> None:
        """Records just stored: appended to the entries of their sites, where held."""
        self._hot = None
        for row, (record_id, meta) in enumerate(zip(ids, metas, strict=True)):
            site = str(meta.get("site") or "")
            entry = self._entries.get(site)
            if entry is not None:
                new = _matrix(vectors[row : row + 1])
                entry.vectors = new if entry.vectors.size == 0 else np.vstack([entry.vectors, new])
                entry.ids.append(record_id)
                entry.metas.append(dict(meta))

    def updated(self, record_id: str, changes: dict[str, Any]) -> None:
        for entry in self._entries.values():
            if record_id in entry.ids:
                entry.metas[entry.ids.index(record_id)].update(changes)

    def removed(self, record_id: str) -> None:
        self._hot = None
        for entry in self._entries.values():
            if record_id in entry.ids:
                i = entry.ids.index(record_id)
                del entry.ids[i], entry.metas[i]
                entry.vectors = np.delete(entry.vectors, i, axis=0)

    def clear(self) -> None:
        self._hot = None
        self._entries.clear()
        self._too_big.clear()


_blas: Any = None


def _one_blas_thread() -> Any:
    """A product this small (a site's 1,700 x 384 at most, ~0.05 ms) gains nothing from BLAS threads, and on a busy
    machine (a coached agent shares the CPU with its browser) waking them made p95 at 100k 10.5 ms against 2.1 ms.
    Scoped to the product, so the host's own numpy keeps its threads. The controller is built once (~10 ms)."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController().select(user_api="blas")
    return _blas.limit(limits=1)


def _matrix(vectors: Any) -> np.ndarray:
    """Vectors as bfloat16: the upper 16 bits of each float32, rounded to nearest even. Half the memory, like float16,
    but widening back is a shift: 0.1 ms for 1,700 vectors of 384 dimensions where float16's conversion took 1.1 ms,
    most of a search at 100k. Similarities move by at most ~3e-4."""
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    matrix = matrix.reshape(len(matrix), -1) if matrix.size else matrix.reshape(0, 0)
    bits = matrix.view(np.uint32)
    return ((bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16).astype(np.uint16)


def _widen(matrix: np.ndarray) -> np.ndarray:
    return (matrix.astype(np.uint32) << 16).view(np.float32)
