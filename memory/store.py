"""The episode store: past episodes in ChromaDB, one collection per namespace, searched by task similarity.

The only module that imports chromadb. Embedded (a PersistentClient directory, one process at a time, see lock.py) or
a Chroma server (WEBCOACH_CHROMA_URL, any number of processes). Embeddings are always computed by webcoach and passed
explicitly, so Chroma's own embedding function (which downloads a model) never runs. Errors from Chroma are re-raised
as one-line StoreErrors.

Chroma holds the vectors; the records (ranking fields and compressed body, records.py) live behind one interface
(chroma_records.Records): in Chroma's metadata on a server, in a SQLite file beside an embedded store (records_db.py).
That file is the embedded store's source of truth and the vectors an index derived from it: a record is written
before its vector is added, and deleted before its vector is, and an open that finds the two disagreeing (a kill, a
full disk, one file restored from a backup) repairs the index from the records (repair.py) when it writes, or says
what to run when it only reads: `read_only=True` changes nothing. Only `forget` removes a record.

Search (same site first): the site's own episodes from site_cache.py (exact, in memory after one read per site), then,
when they cannot fill k, Chroma's nearest of all sites; ranking on the records' fields (ranking.py) and decoding only
the k returned. sites.py counts episodes per site so neither step runs when it cannot help.

`compact` gives an embedded store's free pages back to the disk: Chroma's own vacuum (in a child process), then the
record file's, with the store's lock held.

Why this module is over 400 lines: every call into chromadb lives here by rule (one module per external system), and
the collection's life cycle (open, relayout, reembed, side collections) cannot move out without importing chromadb
types elsewhere; what needs no chromadb (record layouts and where records live, ranking, site counts and index,
transfer) already lives apart."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlsplit

import chromadb
import httpx
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.shared_system_client import SharedSystemClient
from chromadb.api.types import Include, Metadata, Where
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError, NotFoundError
from webcoach.condenser.episode import SCHEMA_VERSION, Episode, domain_of
from webcoach.errors import (
    ConfigError,
    EmbedderMismatchError,
    InputError,
    NamespaceNotFoundError,
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
)
from webcoach.memory.advice_log import FILE_PREFIX as ADVICE_FILE
from webcoach.memory.advice_log import AdviceLog, CollectionBackend, FileBackend, export_lines
from webcoach.memory.chroma_records import BATCH, ChromaRecords, Records
from webcoach.memory.embed import (
    HASHING_NAME,
    MINILM_NAME,
    SETUP_HINT,
    Embedder,
    MissingEmbedder,
    canonical_name,
    resolve_embedder,
)
from webcoach.memory.files import private_dir, private_tree
from webcoach.memory.lock import StoreLock
from webcoach.memory.migrations import check_not_newer
from webcoach.memory.model_fetch import download_default_model
from webcoach.memory.ranking import Hit, RetrievalWeights, Scored, hits, order, site_key
from webcoach.memory.records import BODY_KEY, EMBEDDED_LAYOUT, SERVER_LAYOUT, decode, fields, has_body, rank_fields
from webcoach.memory.records_db import FILE_NAME, RecordsDB
from webcoach.memory.repair import Plan, Repair, keep_copy, plan
from webcoach.memory.server_auth import ENV_CHROMA_TOKEN, ServerAuth, server_auth
from webcoach.memory.site_cache import SiteCache
from webcoach.memory.sites import SERVER_TTL_S, SiteCounts, read_counts
from webcoach.memory.transfer import content_id, export_jsonl, harden, read_jsonl
from webcoach.settings import ENV_CHROMA_URL, resolve

log = logging.getLogger("webcoach")

__all__ = ["Compaction", "EpisodeStore", "Hit", "Repair", "RetrievalWeights", "StoreStats", "compact", "download_default_model"]

# Side collections of a namespace; "." cannot occur in a namespace, so these never collide with one.
REEMBED_SUFFIX = ".reembed"  # the collection a reembed fills before it takes the namespace's name
SITES_SUFFIX = ".sites"  # episodes per site (sites.py)
ADVICE_SUFFIX = ".advice"  # the advice log on a server (advice_log.py)
_CHROMA_ERRORS = (ChromaError, ValueError, TypeError, RuntimeError, OSError, httpx.HTTPError)
PREFIX = "webcoach-"  # collection name = PREFIX + namespace
# A fresh namespace on a server can be searched before its first writes reach the vector index: Chroma then says
# "Nothing found on disk" for a short while. Retried this many times, then treated as no hits.
_NOT_YET_INDEXED = "Nothing found on disk"
_SEARCH_RETRIES = 3
# A writer's open indexes up to this many records that lack vectors by itself (seconds with MiniLM); more is a job
# for `webcoach memory repair`, with its progress bar.
AUTO_REPAIR_MAX = 1000
_REPAIR_CHUNK = 100  # records indexed per Chroma add in a repair (the progress bar moves at least this often)
ENV_MIN_FREE_MB = "WEBCOACH_MIN_FREE_MB"  # writes are refused below this much free disk (default 16 MB)
_BYTES_PER_ADD = 8192  # room asked per episode on top of the margin (its record, vector and Chroma's log)
ENV_FAULT = "WEBCOACH_TEST_KILL_AT"  # tests only: the process kills itself (SIGKILL) at the named point (_fault)


def _min_free_bytes() -> int:
    try:
        return int(float(os.environ.get(ENV_MIN_FREE_MB, "16")) * 2**20)
    except ValueError as exc:
        raise ConfigError(f"{ENV_MIN_FREE_MB} must be a number of megabytes, not {os.environ[ENV_MIN_FREE_MB]!r}") from exc


def _fault(point: str) -> None:
    """A test hook: kill -9 this process at a chosen point between two writes (the fault-injection tests)."""
    if os.environ.get(ENV_FAULT) == point:
        os.kill(os.getpid(), signal.SIGKILL)


# The timeout of server calls made inside `EpisodeStore.time_limit(seconds)` (None: the store's own timeout).
_CALL_TIMEOUT: ContextVar[float | None] = ContextVar("webcoach_chroma_call_timeout", default=None)


def _timed_session(client: ClientAPI, timeout_s: float) -> None:
    """Give every HTTP call of a Chroma HttpClient a timeout. Chroma builds its httpx session with timeout=None and has
    no setting for it, so a stopped server would hang every call for ever; we set the session's timeout and let
    `time_limit` shorten it per call (the coach's reads). Touches Chroma's private `_server._session`: pinned by
    tests/memory/test_sick_server.py."""
    session = getattr(getattr(client, "_server", None), "_session", None)
    if not isinstance(session, httpx.Client):
        return
    session.timeout = httpx.Timeout(timeout_s)
    plain = session.request

    def request(*args: Any, **kwargs: Any) -> httpx.Response:
        limit = _CALL_TIMEOUT.get()
        if limit is not None and "timeout" not in kwargs:
            kwargs["timeout"] = httpx.Timeout(limit)
        return plain(*args, **kwargs)

    session.request = request  # type: ignore[method-assign]


@dataclass(frozen=True, kw_only=True)
class StoreStats:
    count: int
    by_outcome: dict[str, int]
    by_domain: list[tuple[str, int]]  # the 10 most frequent sites (registrable domains), most frequent first
    embedder: str
    dim: int
    namespace: str
    location: str
    schema_version: int


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _chroma_settings(server: ServerAuth | None = None) -> ChromaSettings:
    # Chroma requires identical settings for every client of one path in a process: always build them here.
    if server is None or server.kind is None:
        return ChromaSettings(anonymized_telemetry=False)
    provider = {
        "basic": "chromadb.auth.basic_authn.BasicAuthClientProvider",
        "token": "chromadb.auth.token_authn.TokenAuthClientProvider",
    }[server.kind]
    return ChromaSettings(
        anonymized_telemetry=False,
        chroma_client_auth_provider=provider,
        chroma_client_auth_credentials=server.credentials,
        chroma_auth_token_transport_header=server.header,
    )


def query_text(task: str, url: str | None) -> str:
    """Queries are embedded in the same shape as stored episodes (Episode.embedding_text) so the site counts too."""
    domain = domain_of(url)
    return f"{task} ({domain})" if domain else task


class EpisodeStore:
    """Episodes of one namespace. `EpisodeStore()` opens the embedded store under WEBCOACH_HOME, or the server at
    WEBCOACH_CHROMA_URL when set; `path=` forces an embedded directory, `url=` a server."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        url: str | None = None,
        namespace: str | None = None,
        embedder: str | Embedder | None = None,
        home: str | os.PathLike[str] | None = None,
        create: bool = True,
        timeout_s: float | None = None,
        token: str | None = None,
        read_only: bool = False,
        lock_wait_s: float = 0.0,
        repairing: bool = False,
    ) -> None:
        """`create=False` opens only a namespace that exists (a typo must not make a new, empty one); `read_only`
        (implies it) changes nothing at all, not even to repair: when the index and the records disagree it says so in
        one warning naming `webcoach memory repair`, where a writer's open repairs what it safely can (repair.py);
        `timeout_s` bounds every Chroma server call (default: $WEBCOACH_CHROMA_TIMEOUT, else 15 s); `lock_wait_s`: how
        long to wait for another process to give the embedded store back; `repairing`: open only to call `repair()`
        (the open checks nothing itself)."""
        if path is not None and url is not None:
            raise ConfigError("give either path= (embedded store) or url= (Chroma server), not both")
        settings = resolve(
            home=home,
            chroma_url=url,
            namespace=namespace,
            embedder=embedder if isinstance(embedder, str) else None,
            chroma_timeout_s=timeout_s,
        )
        self.namespace = settings.namespace
        self._model_dir = settings.embed_model_dir
        self.read_only = read_only
        self._create = create and not read_only
        self._wrote = False  # a put or drop since open: the index's copy of the records' generation is written on close
        self._unreadable: str | None = None  # read-only, and Chroma cannot read the index (repair.py)
        self.timeout_s = settings.chroma_timeout_s
        self._lock: StoreLock | None = None
        self._advice_log: AdviceLog | None = None
        self._records: Records | None = None
        self._closed = False
        server_url = settings.chroma_url if path is None else None
        self._layout = SERVER_LAYOUT if server_url is not None else EMBEDDED_LAYOUT
        self._server = server_auth(server_url, token=token)
        if server_url is not None:
            self.location = self._server.display_url  # never the credentials: it is printed in stats and errors
            self._client = self._connect(server_url, self._server)
        else:
            # Absolute and resolved: Chroma shares one client per path *string* in a process, and two clients on one
            # directory (say "x" and "./x") would corrupt it just as two processes do.
            chroma_dir = (Path(path).expanduser() if path is not None else settings.chroma_path).resolve()
            self.location = str(chroma_dir)
            if not self._create and not chroma_dir.exists():
                self._collection_missing([])
            if path is None and not read_only:
                private_dir(settings.home)
            if not read_only:
                private_dir(chroma_dir)
            self._lock = StoreLock(chroma_dir).acquire(wait_s=lock_wait_s)
            try:
                if not (chroma_dir / CHROMA_FILE).is_file():
                    self._index_file_missing(chroma_dir)
                try:
                    with self._wrap("open the embedded store"):
                        self._client = chromadb.PersistentClient(path=str(chroma_dir), settings=_chroma_settings())
                except StoreError as exc:
                    # Chroma writes as it opens, so a disk with no room at all stops it; a read can go on from the records.
                    if not (read_only and "disk is full" in str(exc) and self._records_only(embedder)):
                        raise
                    return
                if not read_only:
                    private_tree(chroma_dir)
            except BaseException:
                self._lock.release()
                raise
        try:
            # An Embedder object as given; a name from the argument or $WEBCOACH_EMBEDDER (checked like --embedder).
            requested: str | Embedder | None = (
                embedder if embedder is not None and not isinstance(embedder, str) else settings.embedder
            )
            self._collection, self.embedder = self._open_collection(requested)
            self._records = self._open_records()
            ttl_s = SERVER_TTL_S if server_url is not None else None  # other processes write to a server
            self._sites = self._open_sites(ttl_s=ttl_s)
            self._site_cache = SiteCache(self._load_site, ttl_s=ttl_s)
            if not repairing:
                self._check_index()
        except BaseException:
            self.close()
            raise

    # -- opening ---------------------------------------------------------------------------------------------------

    def _records_only(self, embedder: str | Embedder | None) -> bool:
        """Open for reading from the record file alone (Chroma cannot open: the disk is full). False when the records
        cannot answer for this namespace either."""
        records = RecordsDB(Path(self.location), self.namespace, read_only=True)
        if records.missing:
            records.close()
            return False
        recorded = records.embedder()
        try:
            if embedder is not None and not isinstance(embedder, str):
                self.embedder = embedder
            else:
                self.embedder = self._recorded_embedder(recorded) if recorded else resolve_embedder(HASHING_NAME)
        except ConfigError:
            self.embedder = resolve_embedder(HASHING_NAME)
        self._records = records
        self._sites = SiteCounts(records.site_counts)
        self._site_cache = SiteCache(self._load_site, ttl_s=None)
        self._unreadable = "the disk is full, so Chroma cannot open; free some space"
        log.warning(
            "webcoach: the disk holding %s is full: reading the record file alone (searches need room to open the index)",
            self.location,
        )
        return True

    def _unreachable(self, exc: BaseException) -> StoreUnavailableError:
        parts = urlsplit(self.location)
        reason = f"no answer in {self.timeout_s:g}s" if isinstance(exc, httpx.TimeoutException) else _one_line(exc)
        return StoreUnavailableError(
            f"cannot reach Chroma server at {self.location} ({reason}): check that it runs and answers "
            f"(`chroma run --path DIR --host 127.0.0.1 --port {parts.port or 8000}`), or unset {ENV_CHROMA_URL}; "
            f"slow server: raise WEBCOACH_CHROMA_TIMEOUT"
        )

    def _connect(self, url: str, server: ServerAuth) -> ClientAPI:
        parts = urlsplit(url)  # checked by settings.check_chroma_url
        ssl = parts.scheme == "https"
        port = parts.port or (443 if ssl else 8000)
        try:
            # Chroma's client makes its first calls while it is built, with no timeout: ask first, with one (and with
            # the credentials: a server behind auth may refuse even its heartbeat without them).
            heartbeat = f"{server.display_url.rstrip('/')}/api/v2/heartbeat"
            httpx.get(heartbeat, timeout=self.timeout_s, headers=server.headers()).raise_for_status()
            client = chromadb.HttpClient(
                host=parts.hostname or "127.0.0.1",
                port=port,
                ssl=ssl,
                settings=_chroma_settings(server),
                tenant=server.tenant or chromadb.DEFAULT_TENANT,
                database=server.database or chromadb.DEFAULT_DATABASE,
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        except _CHROMA_ERRORS as exc:
            raise StoreError(
                f"cannot use the Chroma server at {self.location}: {server.scrub(_one_line(exc))}; check that it is a "
                f"Chroma 1.x server (`chroma run --path DIR --host 127.0.0.1 --port {port}`) and the credentials "
                f"(URL or {ENV_CHROMA_TOKEN}), or unset {ENV_CHROMA_URL}"
            ) from exc
        _timed_session(client, self.timeout_s)
        return client

    def _collection_missing(self, existing: Sequence[str]) -> None:
        if existing:
            raise NamespaceNotFoundError(
                f"no namespace {self.namespace!r} at {self.location}: existing namespaces are "
                f"{', '.join(sorted(existing))} (pick one with --namespace / WEBCOACH_NAMESPACE)",
                tuple(sorted(existing)),
            )
        raise NamespaceNotFoundError(
            f"nothing stored at {self.location} yet (no namespace {self.namespace!r}): add episodes with "
            "`webcoach ingest` or `webcoach run`"
        )

    def namespaces(self) -> list[str]:
        """The namespaces that exist where this store lives, sorted."""
        with self._wrap("list the namespaces"):
            names = [c if isinstance(c, str) else c.name for c in self._client.list_collections()]
        # Side collections (site counts, a reembed's copy) carry a '.', which no namespace can.
        return sorted(n[len(PREFIX) :] for n in names if n.startswith(PREFIX) and "." not in n)

    def _get_collection(self, name: str) -> Collection | None:
        with self._wrap("open the collection"):
            try:
                return self._client.get_collection(name, embedding_function=None)
            except NotFoundError:
                return None

    def _open_collection(self, requested: str | Embedder | None) -> tuple[Collection, Embedder]:
        name = f"webcoach-{self.namespace}"
        collection = self._get_collection(name)
        moved = self._get_collection(name + REEMBED_SUFFIX)
        if moved is not None:  # a reembed stopped part-way: finish it when its copy was complete, else drop the copy
            with self._wrap("finish an interrupted reembed"):
                if collection is None and (moved.metadata or {}).get("complete"):
                    moved.modify(name=name)
                    collection = moved
                else:
                    self._client.delete_collection(name + REEMBED_SUFFIX)
        chosen: Embedder | None = None
        if isinstance(requested, str):
            chosen = resolve_embedder(requested, self._model_dir)
        elif requested is not None:
            chosen = requested
        held = self._peek_records() if collection is None else (0, None)
        if collection is None and held[0] and self.read_only:
            raise StoreError(
                f"namespace {self.namespace!r} at {self.location} has {held[0]} episode(s) in its record file but no vector "
                f"index ({CHROMA_FILE} was removed or replaced): run `webcoach memory repair` to build the index again "
                "from the records (nothing was changed)"
            )
        if collection is None and not self._create and not held[0]:
            self._collection_missing(self.namespaces())
        if collection is None:
            # The records hold episodes whose index is gone: build it with the embedder they were indexed with.
            recorded_name = held[1] if chosen is None and held[1] else None
            embedder = chosen or (
                self._recorded_embedder(recorded_name) if recorded_name else resolve_embedder(None, self._model_dir)
            )
            if chosen is None and recorded_name is None and embedder.name == HASHING_NAME:
                # The best embedder could not be had (no model files, a failed download): say so where it lasts.
                log.warning(
                    "webcoach: new namespace %r at %s uses the %s embedder, not %s (see why above); once the model is "
                    "there, `webcoach memory reembed --to minilm` moves it",
                    self.namespace,
                    self.location,
                    HASHING_NAME,
                    MINILM_NAME,
                )
            metadata = {
                "embedder": embedder.name,
                "embedder_dim": embedder.dim,
                "schema_version": SCHEMA_VERSION,
                "layout": self._layout,
            }
            with self._wrap("create the collection"):
                # get_or_create: another client of the same server may have created it since we looked.
                collection = self._client.get_or_create_collection(
                    name, embedding_function=None, metadata=metadata, configuration={"hnsw": {"space": "cosine"}}
                )
        meta = dict(collection.metadata or {})
        recorded, dim = meta.get("embedder"), meta.get("embedder_dim")
        if not isinstance(recorded, str) or not isinstance(dim, int):
            raise StoreError(
                f"collection {name} at {self.location} was not made by webcoach (no embedder recorded): use another namespace"
            )
        version = meta.get("schema_version", 0)
        if not isinstance(version, int):
            raise StoreError(f"collection {name} at {self.location} has a bad schema_version {version!r}: use another namespace")
        check_not_newer(version, f"namespace {self.namespace!r} at {self.location}")
        if chosen is None:
            chosen = self._recorded_embedder(recorded, dim)
        if (chosen.name, chosen.dim) != (recorded, dim):
            raise EmbedderMismatchError(
                f"namespace {self.namespace!r} at {self.location} was built with embedder {recorded} (dim {dim}) but "
                f"{chosen.name} (dim {chosen.dim}) was asked for: use embedder {recorded!r} (or leave it unset), "
                f"move the namespace with `webcoach memory reembed --to {chosen.name}`, "
                "or pick a new namespace (--namespace / WEBCOACH_NAMESPACE)"
            )
        return collection, chosen

    def _peek_records(self) -> tuple[int, str | None]:
        """(episodes, recorded embedder) of this namespace in an embedded store's record file, read without changing it."""
        if self._layout != EMBEDDED_LAYOUT:
            return 0, None
        peek = RecordsDB(Path(self.location), self.namespace, read_only=True)
        try:
            return peek.count(), peek.embedder()
        finally:
            peek.close()

    def _index_file_missing(self, chroma_dir: Path) -> None:
        held, _ = self._peek_records()
        if held and self.read_only:
            raise StoreError(
                f"namespace {self.namespace!r} at {chroma_dir} has {held} episode(s) in its record file but no vector index "
                f"({CHROMA_FILE} was removed): run `webcoach memory repair` to build it again from the records (nothing "
                "was changed)"
            )
        if not held and not self._create:
            self._collection_missing([])

    def _open_records(self) -> Records:
        """Where the records live (chroma_records.py), with the namespace's older records moved there once."""
        meta = dict(self._collection.metadata or {})
        if self._layout == EMBEDDED_LAYOUT and self.read_only and meta.get("layout") != EMBEDDED_LAYOUT:
            # An older layout keeps its records in Chroma's metadata: read them there; the move waits for a writer.
            return ChromaRecords(lambda: self._col, self._wrap)
        if self._layout == EMBEDDED_LAYOUT:
            records: Records = RecordsDB(Path(self.location), self.namespace, read_only=self.read_only)
        elif meta.get("layout") == EMBEDDED_LAYOUT:
            raise StoreError(
                f"namespace {self.namespace!r} at {self.location} keeps its episodes in a file beside an embedded store: "
                "open that directory as an embedded store (--home / path=), export the namespace and import it here"
            )
        else:
            records = ChromaRecords(lambda: self._col, self._wrap)
        try:
            if meta.get("layout") != records.layout:
                with self._wrap("count episodes"):
                    count = self._collection.count()
                big = count >= 1000
                if big:  # ~0.7 s per 1,000: say why this open takes a while
                    log.warning("webcoach: moving %d episodes of namespace %r to the current layout, once", count, self.namespace)
                self._relayout(records, meta)
                if big and self._layout == EMBEDDED_LAYOUT:  # a server's disk is its operator's (see compact)
                    # The move leaves Chroma's file a sixth larger (a 100k store: 327 -> 381 MB) until later adds reuse it.
                    log.warning(
                        "webcoach: moved the episodes of namespace %r; `webcoach memory compact` (run while no webcoach "
                        "process has the store open) gives back the disk space the move left free",
                        self.namespace,
                    )
            if isinstance(records, RecordsDB) and not self.read_only and records.embedder() != self.embedder.name:
                records.set_embedder(self.embedder.name)
        except BaseException:
            records.close()
            raise
        return records

    def _vectors(self) -> dict[str, str]:
        """id -> site of every vector in the index."""
        found: dict[str, str] = {}
        offset = 0
        while True:
            with self._wrap("read the index"):
                page = self._collection.get(limit=5000, offset=offset, include=["metadatas"])
            if not page["ids"]:
                return found
            for i, m in zip(page["ids"], page["metadatas"] or [{}] * len(page["ids"]), strict=True):
                found[i] = rank_fields(dict(m or {})).site or ""
            offset += len(page["ids"])

    def _open_sites(self, *, ttl_s: float | None) -> SiteCounts:
        if isinstance(self._records, RecordsDB) or self._layout == EMBEDDED_LAYOUT:
            return SiteCounts(self._rec.site_counts)  # counted from the records: nothing to drift
        name = f"webcoach-{self.namespace}{SITES_SUFFIX}"
        existing = self._get_collection(name)
        with self._wrap("open the site counts"):
            side = existing or self._client.get_or_create_collection(name, embedding_function=None)
            sites = SiteCounts(lambda: read_counts(side), save=side, ttl_s=ttl_s)
            if existing is None and self.count():  # a namespace from before site counts: count once
                sites.rebuild(self._rec.tallies()[1].elements())
        return sites

    # -- the index against the records (repair.py) ------------------------------------------------------------------

    def _index_state(self) -> tuple[int | None, str | None]:
        """(vectors in the index, None) or (None, why it cannot be read)."""
        try:
            with self._wrap("read the index"):
                return self._collection.count(), None
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            return None, str(exc).split("): ", 1)[-1][:200]

    def _check_index(self) -> None:
        """On open: do the index and the records agree? Cheap when they do (the generation the index copied on the last
        clean close, and the counts); otherwise a read-only open says what to run, a writer's repairs what is safe."""
        if not isinstance(self._records, RecordsDB):
            if self._layout == SERVER_LAYOUT and not self.read_only and self._sites.total() != self.count():
                self._sites.rebuild(self._rec.site_counts().elements())  # a kill between an add and its count
            return
        vectors, unreadable = self._index_state()
        recorded_gen = (self._collection.metadata or {}).get("records_gen", 0)
        if unreadable is None and vectors == self._records.count() and recorded_gen == self._records.gen():
            return
        p = self._plan(unreadable)
        if not p.needed:
            if not self.read_only:
                self._wrote = True  # a kill after whole writes: the index only lacks the generation, written on close
            return
        if self.read_only:
            log.warning(
                "webcoach: namespace %r at %s: %s; searches may miss or lack episodes until you run `webcoach memory "
                "repair` (this command changed nothing)",
                self.namespace,
                self.location,
                p.describe(),
            )
            self._unreadable = unreadable  # listing, showing and export read the records; a search says what to run
            return
        if p.records == 0 and p.vectors:
            raise StoreError(
                f"the record file {FILE_NAME} at {self.location} holds no episode of namespace {self.namespace!r} but its "
                f"index holds {p.vectors} vector(s): put the record file back from a backup, or run `webcoach memory "
                "repair` to empty the index (the vectors are copied aside first); nothing was changed"
            )
        if len(p.to_index) > AUTO_REPAIR_MAX:
            raise StoreError(
                f"namespace {self.namespace!r} at {self.location}: {p.describe()}; that is more than a command should do "
                f"on the side: run `webcoach memory repair` (nothing was changed)"
            )
        done = self._carry_out(p)
        log.warning("webcoach: repaired on open: %s", done.line())

    def _plan(self, unreadable: str | None = None) -> Plan:
        return plan(
            self.namespace,
            self.location,
            self._rec.ids(),
            None if unreadable is not None else self._vectors(),
            unreadable,
        )

    def repair(self, *, dry_run: bool = False, on_progress: Callable[[int, int], None] | None = None) -> Repair:
        """Make the index agree with the records (repair.py): vectors for records that lack them (embedded again from
        their text), vectors without records copied aside and removed, an unreadable index built again, site counts
        counted again. `dry_run`: say what it would do, change nothing."""
        if not isinstance(self._records, RecordsDB):  # a server keeps record and vector in one write: counts only
            with self._wrap("count episodes"):
                count = self.count()
            p = Plan(namespace=self.namespace, location=self.location, records=count, vectors=count)
            if not dry_run:
                self._check_writable()
                self._sites.rebuild(self._rec.site_counts().elements())
            return Repair(plan=p, dry_run=dry_run)
        _, unreadable = self._index_state()
        refile = self._misfiled(self._records)
        p = replace(self._plan(unreadable), to_refile=tuple(sorted(refile)))
        if dry_run:
            return Repair(plan=p, dry_run=True)
        self._check_writable()
        return self._carry_out(p, on_progress, refile)

    def _misfiled(self, records: RecordsDB) -> dict[str, Episode]:
        """Records filed under a site their start URL no longer gives: the site is derived from the start URL when a
        record is read, but the site index keeps what it was when written, and the rules changed (a local host is
        host:port). Reads every record, so only an explicit repair asks."""
        misfiled: dict[str, Episode] = {}
        for ids, metas in records.pages(_REPAIR_CHUNK):
            for i, meta in zip(ids, metas, strict=True):
                episode = self._episode(i, meta)
                if fields(episode)["site"] != (meta.get("site") or ""):
                    misfiled[i] = episode
        return misfiled

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError("this EpisodeStore was opened read-only: open it without read_only=True to change it")

    def _carry_out(
        self, p: Plan, on_progress: Callable[[int, int], None] | None = None, refile: dict[str, Episode] | None = None
    ) -> Repair:
        self._room()
        copy: str | None = None
        rebuilt = False
        if p.unreadable is not None:
            meta = {k: v for k, v in dict(self._collection.metadata or {}).items() if k != "records_gen"}
            name = f"webcoach-{self.namespace}"
            with self._wrap("set the unreadable index aside"):
                self._client.delete_collection(name)
                self._collection = self._client.create_collection(
                    name, embedding_function=None, metadata=meta, configuration={"hnsw": {"space": "cosine"}}
                )
            rebuilt = True
        if p.to_remove:
            copy = str(self._copy_aside(p.to_remove))
            for start in range(0, len(p.to_remove), BATCH):
                with self._wrap("remove vectors without records"):
                    self._collection.delete(ids=list(p.to_remove[start : start + BATCH]))
        if refile and isinstance(self._records, RecordsDB):
            self._records.rewrite_many(list(refile.values()))  # the same ids and texts: only their site changes
        # Vectors to move: those filed apart from their record, and those of records filed again (a record with no
        # vector yet, or a rebuilt index, gets its site when it is indexed below).
        resite = [] if rebuilt else sorted({*p.to_resite, *(refile or {})} - set(p.to_index))
        if resite:
            for start in range(0, len(resite), BATCH):
                chunk = list(resite[start : start + BATCH])
                metas = self._rec.metas(chunk, None, body=False)
                with self._wrap("correct sites"):
                    self._collection.update(ids=chunk, metadatas=[{"site": str(metas[i]["site"])} for i in chunk])
        done = 0
        for start in range(0, len(p.to_index), _REPAIR_CHUNK):
            chunk = list(p.to_index[start : start + _REPAIR_CHUNK])
            metas = self._rec.metas(chunk, None, body=True)
            episodes = [self._episode(i, metas[i]) for i in chunk if i in metas]
            if episodes:
                vectors = np.asarray(self.embedder.embed([e.embedding_text() for e in episodes]), dtype=np.float32)
                with self._wrap("index episodes"):
                    self._collection.add(
                        ids=[e.id for e in episodes],
                        embeddings=vectors,
                        metadatas=[self._rec.chroma_metadata(e) for e in episodes],  # type: ignore[misc]
                    )
            done += len(episodes)
            _fault("repair-indexing")
            if on_progress is not None:
                on_progress(done, len(p.to_index))
        self._sites.rebuild(self._rec.site_counts().elements())
        self._site_cache.clear()
        self._wrote = True
        self._mark_synced()
        return Repair(
            plan=p,
            dry_run=False,
            indexed=done,
            removed=len(p.to_remove),
            resited=len(p.to_resite),
            refiled=len(refile or {}),
            rebuilt=rebuilt,
            copy=copy,
        )

    def _copy_aside(self, ids: Sequence[str]) -> Path:
        def rows() -> Iterator[tuple[str, str, Sequence[float]]]:
            for start in range(0, len(ids), BATCH):
                with self._wrap("read vectors without records"):
                    found = self._collection.get(ids=list(ids[start : start + BATCH]), include=["metadatas", "embeddings"])
                embeddings: Any = found["embeddings"] if found["embeddings"] is not None else [[]] * len(found["ids"])
                for i, m, v in zip(found["ids"], found["metadatas"] or [{}] * len(found["ids"]), embeddings, strict=True):
                    yield i, rank_fields(dict(m or {})).site or "", list(v)

        return keep_copy(self.location, self.namespace, rows())

    def _mark_synced(self) -> None:
        """Copy the records' generation into the index's metadata: the next open then knows the two agree, unread."""
        if not self._wrote or not isinstance(self._records, RecordsDB) or self.read_only:
            return
        gen = self._records.gen()
        meta = dict(self._collection.metadata or {})
        if meta.get("records_gen") != gen:
            with self._wrap("record the index's state"):
                self._collection.modify(metadata={**meta, "records_gen": gen})
        self._wrote = False

    def _room(self, n: int = 0) -> None:
        """Refuse a write up front when the disk is too full to take it whole: Chroma cut short by a full disk leaves an
        index that cannot be read (repairable, but a write should fail before that). Embedded stores only."""
        if self._layout != EMBEDDED_LAYOUT:
            return
        free = shutil.disk_usage(self.location).free
        need = _min_free_bytes() + n * _BYTES_PER_ADD
        if free < need:
            raise StoreError(
                f"the disk holding {self.location} is nearly full ({free / 2**20:.1f} MB free, {need / 2**20:.0f} MB "
                f"needed to write safely): nothing was written; free some space and retry (reads still work; "
                f"{ENV_MIN_FREE_MB} sets the margin)"
            )

    def _load_site(self, site: str, limit: int) -> tuple[list[str], Any, list[dict[str, Any]]] | None:
        include = cast(Include, ["embeddings", *self._rec.include])
        with self._wrap("read a site's episodes"):
            found = self._col.get(where=cast(Where, {"site": site}), limit=limit + 1, include=include)
        ids = found["ids"]
        if len(ids) > limit:
            return None
        metas = self._rec.metas(ids, found["metadatas"] if self._rec.include else None, body=False)
        vectors = np.asarray(found["embeddings"] if found["embeddings"] is not None else [], dtype=np.float32)
        keep = [n for n, i in enumerate(ids) if i in metas]
        return [ids[n] for n in keep], vectors[keep] if len(keep) < len(ids) else vectors, [metas[ids[n]] for n in keep]

    def _relayout(self, records: Records, meta: dict[str, Any]) -> None:
        """Move the records of an older layout to `records`' (records.py), once, when their collection opens: a page at a
        time, each record's new home written before its old metadata is rewritten, so a crash part-way loses nothing
        and the next open finishes the move."""
        offset = 0
        while True:
            with self._wrap("read episodes"):
                page = self._collection.get(limit=BATCH, offset=offset, include=["metadatas"])
            if not page["ids"]:
                break
            offset += len(page["ids"])
            ids, metadatas = records.relayout(page["ids"], [dict(m) for m in page["metadatas"] or []])
            if ids:
                with self._wrap("rewrite episodes"):
                    self._collection.update(ids=ids, metadatas=cast(list[Metadata], metadatas))
        with self._wrap("record the layout"):
            self._collection.modify(metadata={**meta, "layout": records.layout})

    def _recorded_embedder(self, recorded: str, dim: int = 384) -> Embedder:  # 384: MiniLM, the one with model files
        if recorded not in (HASHING_NAME, MINILM_NAME):
            raise ConfigError(
                f"namespace {self.namespace!r} was built with embedder {recorded!r}, which webcoach cannot load by name: "
                "pass that embedder object as EpisodeStore(embedder=...)"
            )
        try:
            return resolve_embedder(canonical_name(recorded), self._model_dir)
        except ConfigError:
            # Only what embeds needs the model: listing, showing, exporting, forgetting and reviewing still work.
            return MissingEmbedder(
                recorded,
                dim,
                f"namespace {self.namespace!r} was built with embedder {recorded} but its model files are missing: "
                f"{SETUP_HINT} (or move it with `webcoach memory reembed --to hashing`)",
            )

    @contextmanager
    def _wrap(self, action: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except httpx.TransportError as exc:  # connection refused, reset or timed out: the server, not this call
            raise self._unreachable(exc) from exc
        except _CHROMA_ERRORS as exc:
            if "disk is full" in str(exc) or getattr(exc, "errno", None) == errno.ENOSPC:
                raise StoreError(
                    f"Chroma could not {action} ({self.location}): the disk is full; free some space and retry (reads "
                    "still work; if a write was cut short, `webcoach memory repair` mends the index from the records)"
                ) from exc
            raise StoreError(f"Chroma could not {action} ({self.location}): {_one_line(exc)}") from exc

    @contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """Server calls made in this block (in this thread or context) time out after `seconds` instead of the
        store's `timeout_s`: the coach bounds its reads by its own step timeout."""
        token = _CALL_TIMEOUT.set(seconds)
        try:
            yield
        finally:
            _CALL_TIMEOUT.reset(token)

    @property
    def _col(self) -> Collection:
        if self._closed:
            raise StoreError("this EpisodeStore is closed: open a new one")
        if getattr(self, "_collection", None) is None:  # opened from the records alone (_records_only)
            raise StoreError(f"the vector index at {self.location} cannot be opened: {self._unreadable}")
        return self._collection

    @property
    def _rec(self) -> Records:
        if self._closed or self._records is None:
            raise StoreError("this EpisodeStore is closed: open a new one")
        return self._records

    # -- records ---------------------------------------------------------------------------------------------------

    def _episode(self, record_id: str, meta: dict[str, Any]) -> Episode:
        return decode(record_id, meta, what=f"episode {record_id} in namespace {self.namespace!r}")

    def _stored(self, ids: Sequence[str]) -> set[str]:
        """The ids among these that are stored: the records say so (embedded, the index may lag them)."""
        return self._rec.existing(ids)

    def _existing(self, ids: Sequence[str]) -> set[str]:
        """The ids among these that have a vector in the index."""
        with self._wrap("look up ids"):
            return set(self._col.get(ids=list(ids), include=[])["ids"])

    def _really_added(self, fresh: Sequence[Episode], metadatas: Sequence[Metadata]) -> set[str]:
        """The ids of `fresh` whose records hold what we wrote. Another client of a server may have added some of them
        since `_existing` looked; Chroma then keeps the first record, so concurrent ingests would each count it. Our
        record is the one with our created_at and body. Embedded, this process holds the store: no read needed."""
        if self._lock is not None:
            return {e.id for e in fresh}
        back = self._col.get(ids=[e.id for e in fresh], include=["metadatas"])
        ours = {e.id: (m.get("created_at"), m.get(BODY_KEY)) for e, m in zip(fresh, metadatas, strict=True)}
        return {
            i
            for i, m in zip(back["ids"], back["metadatas"] or [], strict=True)
            if (m.get("created_at"), m.get(BODY_KEY)) == ours.get(i)
        }

    def _add(self, episodes: Iterable[Episode]) -> tuple[list[str], set[str]]:
        """(ids in order, ids newly stored): one existence query and one write per BATCH episodes."""
        ids: list[str] = []
        added: set[str] = set()
        batch: dict[str, Episode] = {}

        def flush() -> set[str]:
            stored = self._stored(list(batch))
            fresh = [e for i, e in batch.items() if i not in stored and i not in added]
            batch.clear()
            if not fresh:
                return set()
            self._check_writable()
            self._room(len(fresh))
            embeddings = np.asarray(self.embedder.embed([e.embedding_text() for e in fresh]), dtype=np.float32)
            metadatas = [self._rec.chroma_metadata(e) for e in fresh]
            self._rec.put(fresh)  # before the vectors: a crash leaves records without vectors, which a repair indexes
            self._wrote = True
            _fault("after-records-put")
            try:
                with self._wrap("add episodes"):
                    # No documents: Chroma would index them for full-text search, which nothing here uses.
                    self._col.add(ids=[e.id for e in fresh], embeddings=embeddings, metadatas=metadatas)  # type: ignore[arg-type]
            except BaseException:
                self._unput(fresh)
                raise
            _fault("after-vector-add")
            mine = {e.id for e in fresh}
            try:  # the episodes are stored: what follows keeps indexes in step, and its failure must not say otherwise
                with self._wrap("add episodes"):
                    mine = self._really_added(fresh, metadatas)
                    self._sites.change(Counter(str(m["site"]) for e, m in zip(fresh, metadatas, strict=True) if e.id in mine))
            except StoreError as exc:
                log.warning("webcoach: %d episode(s) stored, but their site counts were not updated (%s)", len(mine), exc)
            cached = [{**fields(e), **m} for e, m in zip(fresh, metadatas, strict=True)]
            self._site_cache.added([e.id for e in fresh], embeddings, cached)
            return mine

        for episode in episodes:
            if not isinstance(episode, Episode):
                raise InputError(f"EpisodeStore.add takes Episode objects, got {type(episode).__name__}")
            ids.append(episode.id)
            batch.setdefault(episode.id, episode)  # the first of duplicate ids wins, as a re-add would
            if len(batch) >= BATCH:
                added |= flush()
        if batch:
            added |= flush()
        return ids, added

    def _unput(self, fresh: Sequence[Episode]) -> None:
        """A failed Chroma add: drop the records whose vectors did not land (embedded; a server keeps both together).
        If even that fails, they stay stored and the next repair indexes them."""
        if self._lock is None:
            return
        try:
            landed = self._existing([e.id for e in fresh])
            self._rec.drop([e.id for e in fresh if e.id not in landed])
        except StoreError as exc:
            # The records stay (a full disk refuses even the delete): they are stored, and the next writer's open or
            # `webcoach memory repair` indexes them. Say so, so the caller's count is not taken as the truth.
            log.warning(
                "webcoach: the failed add's %d record(s) could not be taken back (%s): they stay stored and are indexed "
                "by `webcoach memory repair` (or the next write) once the disk has room",
                len(fresh),
                exc,
            )

    def add(self, episode: Episode) -> str:
        """Store an episode; returns its id. Adding an id already stored changes nothing."""
        return self._add([episode])[0][0]

    def add_batch(self, episodes: Sequence[Episode]) -> set[str]:
        """Store episodes with one existence query and one write per 500; returns the ids this call really stored (not
        those stored before, nor those another client of the same server stored meanwhile)."""
        return self._add(episodes)[1]

    def add_many(self, episodes: Iterable[Episode]) -> list[str]:
        """Store episodes in batches of 500; returns their ids in order (ids already stored are left as they are)."""
        return self._add(episodes)[0]

    def get(self, episode_id: str) -> Episode:
        found = self._rec.metas([episode_id], None, body=True)
        if episode_id not in found:
            raise StoreError(f"no episode {episode_id} in namespace {self.namespace!r}")
        return self._episode(episode_id, found[episode_id])

    def contains(self, episode_id: str) -> bool:
        return bool(self._rec.existing([episode_id]))

    def count(self) -> int:
        """How many episodes are stored (the records say: embedded, the index may lag them until a repair)."""
        if isinstance(self._records, RecordsDB):
            return self._records.count()
        with self._wrap("count episodes"):
            return self._col.count()

    def forget(self, episode_id: str) -> bool:
        """Delete an episode; False when there was none with that id. The one way a record leaves the store."""
        found = self._rec.metas([episode_id], None, body=False)
        if episode_id not in found:
            return False
        self._check_writable()
        site = rank_fields(found[episode_id]).site
        self._rec.drop([episode_id])  # the record first: a vector left without one is removed by the next repair
        self._wrote = True
        _fault("after-records-drop")
        with self._wrap("delete an episode"):
            self._col.delete(ids=[episode_id])
            if site:
                self._sites.change({site: -1})
            self._site_cache.removed(episode_id)
        return True

    def record_outcome(self, ids: Iterable[str], success: bool) -> int:
        """A coached run that drew advice from these episodes ended: count it as helped (success) or hurt. Returns how
        many of the ids were found (unknown ids are skipped: an episode may have been forgotten since)."""
        unique = list(dict.fromkeys(ids))
        if not unique:
            return 0
        self._check_writable()
        changes = self._rec.bump(unique, "helped" if success else "hurt")
        for record_id, changed in changes.items():
            self._site_cache.updated(record_id, changed)
        return len(changes)

    def reembed(self, embedder: str | Embedder, on_progress: Callable[[int, int], None] | None = None) -> int:
        """Move this namespace to another embedder: every episode is embedded again into a new collection, which then
        takes the namespace's name (an interrupted move is finished or undone when the store next opens). Returns how
        many episodes were moved; `on_progress(done, total)` follows along."""
        self._check_writable()
        target = resolve_embedder(embedder, self._model_dir) if isinstance(embedder, str) else embedder
        name = f"webcoach-{self.namespace}"
        meta = {**dict(self._col.metadata or {}), "embedder": target.name, "embedder_dim": target.dim, "layout": self._layout}
        total, done = self.count(), 0
        with self._wrap("create the new collection"):
            if self._get_collection(name + REEMBED_SUFFIX) is not None:
                self._client.delete_collection(name + REEMBED_SUFFIX)
            copy = self._client.create_collection(
                name + REEMBED_SUFFIX, embedding_function=None, metadata=meta, configuration={"hnsw": {"space": "cosine"}}
            )
        # The records stay where they are (an embedded store's file is keyed by namespace): only vectors move.
        for ids, metas in self._rec.pages(BATCH):
            episodes = [self._episode(i, m) for i, m in zip(ids, metas, strict=True)]
            vectors = np.asarray(target.embed([e.embedding_text() for e in episodes]), dtype=np.float32)
            with self._wrap("copy episodes"):
                copy.add(ids=ids, embeddings=vectors, metadatas=[self._rec.chroma_metadata(e) for e in episodes])  # type: ignore[misc]
            done += len(ids)
            _fault("reembed-copying")
            if on_progress is not None:
                on_progress(done, total)
        if isinstance(self._records, RecordsDB):  # every record is in the copy: it agrees with them
            meta["records_gen"] = self._records.gen()
        with self._wrap("switch collections"):
            copy.modify(metadata={**meta, "complete": True})
            self._client.delete_collection(name)
            copy.modify(name=name)
        self._collection, self.embedder = copy, target
        self._site_cache.clear()
        return done

    def review(self, episode_id: str, *, pinned: bool | None = None, banned: bool | None = None) -> Episode:
        """A person's verdict on an episode: `pinned` approves it (the most trusted advice), `banned` keeps it from ever
        being shown to an agent. Returns the updated episode."""
        self._check_writable()
        episode = self.get(episode_id)
        update = {k: v for k, v in (("pinned", pinned), ("banned", banned)) if v is not None}
        if update.get("pinned"):
            update["banned"] = False
        elif update.get("banned"):
            update["pinned"] = False
        reviewed = episode.model_copy(update=update)
        self._site_cache.updated(episode_id, self._rec.rewrite(reviewed))
        return reviewed

    # -- retrieval -------------------------------------------------------------------------------------------------

    def search(
        self,
        task: str,
        url: str | None = None,
        k: int = 5,
        *,
        weights: RetrievalWeights | None = None,
        now: datetime | None = None,
    ) -> list[Hit]:
        """The k episodes most worth showing for `task` (on the page at `url`), best first. With a URL, the site's own
        episodes come first whenever memory holds any; within each group the `weights.overfetch` nearest by embedding
        are re-ranked by similarity, recency and usefulness (memory/ranking.py). Only the k returned are decoded."""
        if k < 1:
            return []
        if self._unreadable is not None and "disk is full" in self._unreadable:
            raise StoreError(
                f"cannot search namespace {self.namespace!r} at {self.location}: {self._unreadable} (list, show, stats and "
                "export still work)"
            )
        if self._unreadable is not None:
            raise StoreError(
                f"the vector index of namespace {self.namespace!r} at {self.location} cannot be read ({self._unreadable}): "
                "run `webcoach memory repair` to build it again from the record file, which holds every episode"
            )
        w = weights or RetrievalWeights()
        query = np.asarray(self.embedder.embed([query_text(task, url)]), dtype=np.float32)
        n = max(w.overfetch, k)
        site = site_key(url)
        with self._wrap("search"):  # against a server the counts may be re-read (sites.py)
            held = self._sites.count(site) if site is not None else 0
        found: dict[str, tuple[dict[str, Any], float]] = {}
        if site is not None and held:
            # The site's own, searched exactly (site_cache.py): Chroma's approximate global index loses a site's few
            # episodes among many others (an isolated site at 100k). A site too big to hold gets a filtered query.
            own = self._site_cache.nearest(site, query, n)
            found.update(own if own is not None else self._nearest(query, n, where=cast(Where, {"site": site})))
        if sum(sim >= w.min_similarity for _, sim in found.values()) < k:
            # Too few of the site's own to fill k (or no URL): the nearest of all sites, ranked after them.
            found.update(self._nearest(query, n))
        candidates = []
        for i, (meta, sim) in sorted(found.items()):
            try:
                candidates.append((i, rank_fields(meta), sim))
            except (TypeError, ValueError) as exc:  # one bad record must not silence the coach: skip it, say so
                log.warning("webcoach: search skipped episode %s in namespace %r (%s)", i, self.namespace, exc)
        ranked = order(candidates, url=url, now=now, weights=w, k=k)
        # The site cache holds ranking fields only (embedded): the k returned are read whole, in one query.
        whole = self._rec.metas([s.item for s in ranked if not has_body(found[s.item][0])], None, body=True)
        decoded: list[Scored[Episode]] = []
        for s in ranked:
            try:
                decoded.append(replace(s, item=self._episode(s.item, whole.get(s.item, found[s.item][0]))))
            except StoreError as exc:  # as above; `show`/`forget` by id still say what is wrong with it
                log.warning("webcoach: search skipped a record: %s", exc)
        return hits(decoded)

    def _nearest(self, query: np.ndarray, n: int, where: Where | None = None) -> dict[str, tuple[dict[str, Any], float]]:
        """id -> (metadata, similarity) of the n nearest records (matching `where`)."""
        include = cast(Include, [*self._rec.include, "distances"])
        for attempt in range(_SEARCH_RETRIES + 1):
            try:
                with self._wrap("search"):
                    result = self._col.query(query_embeddings=query, n_results=n, where=where, include=include)
                break
            except StoreError as exc:
                if _NOT_YET_INDEXED not in str(exc) or isinstance(exc, StoreUnavailableError):
                    raise
                if attempt == _SEARCH_RETRIES:
                    return {}  # still being written: nothing to show yet
                time.sleep(0.1 * 2**attempt)
        ids = result["ids"][0]
        # With the bodies: they sit in the rows read anyway, and a second query for the k returned cost more.
        metas = self._rec.metas(ids, (result["metadatas"] or [[]])[0] if self._rec.include else None, body=True)
        distances = (result["distances"] or [[]])[0]
        # Chroma's cosine distance is 1 - cosine similarity. A vector without a record (its file lost) is not shown.
        return {i: (metas[i], 1.0 - float(d)) for i, d in zip(ids, distances, strict=True) if i in metas}

    def _fetch(self, ids: Sequence[str]) -> Iterator[Episode]:
        """Episodes for ids, in the order given."""
        for start in range(0, len(ids), BATCH):
            chunk = list(ids[start : start + BATCH])
            by_id = self._rec.metas(chunk, None, body=True)
            for i in chunk:
                if i in by_id:
                    yield self._episode(i, by_id[i])

    def list(self, limit: int | None = None, offset: int = 0) -> list[Episode]:
        """Episodes newest first."""
        if limit is None:
            newest = [i for _, i in reversed(self._rec.ordered())][offset:]
        else:
            newest = self._rec.newest(offset + limit)[offset:]
        return list(self._fetch(newest))

    def stats(self) -> StoreStats:
        outcomes, domains = self._rec.tallies()
        return StoreStats(
            count=sum(outcomes.values()),
            by_outcome=dict(sorted(outcomes.items())),
            by_domain=sorted(domains.items(), key=lambda kv: (-kv[1], kv[0]))[:10],
            embedder=self.embedder.name,
            dim=self.embedder.dim,
            namespace=self.namespace,
            location=self.location,
            schema_version=SCHEMA_VERSION,
        )

    # -- export / import (the JSONL format lives in transfer.py) -------------------------------------------------------

    def episodes(self) -> Iterator[Episode]:
        """Every episode, oldest first (then by id), decoded a batch at a time."""
        return self._fetch([i for _, i in self._rec.ordered()])

    def export(self, path: str | os.PathLike[str]) -> int:
        """Write every episode as JSONL (oldest first, then by id), then the advice log; returns how many episodes. The
        file appears whole or not at all."""
        return export_jsonl(self.episodes(), path, export_lines(self.advice_log().entries()[::-1]))

    def advice_log(self) -> AdviceLog:
        """The namespace's advice log (advice_log.py): a file beside an embedded store, a side collection on a server."""
        if self._advice_log is None:
            if self._lock is not None:
                backend: FileBackend | CollectionBackend = FileBackend(
                    Path(self.location) / f"{ADVICE_FILE}{self.namespace}.jsonl"
                )
            else:
                with self._wrap("open the advice log"):
                    name = f"{PREFIX}{self.namespace}{ADVICE_SUFFIX}"
                    backend = CollectionBackend(self._client.get_or_create_collection(name, embedding_function=None), self._wrap)
            self._advice_log = AdviceLog(backend)
        return self._advice_log

    def import_(self, path: str | os.PathLike[str], *, trust_counts: bool = False) -> tuple[int, int]:
        """Add the episodes of a JSONL export; returns (added, skipped as already stored). The whole file is checked
        first: one bad line and nothing is added. Imported episodes are marked as such (the least trusted), get ids
        derived from their content and their site from their start URL, and keep their `helped`/`hurt`/`created_at`
        only with `trust_counts` (see memory/transfer.harden)."""
        return self.import_hardened(harden(read_jsonl(path), str(path), trust_counts=trust_counts))

    def import_hardened(self, hardened: Sequence[tuple[str, Episode]]) -> tuple[int, int]:
        """`import_` of an export already read and hardened (transfer.harden: (claimed id, episode) pairs), for a caller
        that checked the file before opening the store; returns (added, skipped as already stored)."""
        # An export coming home: a record under the id its file claims (or the id its content hash gives) that says
        # the same thing is already here, whatever the file's id.
        looked_up = [i for claimed, ep in hardened for i in (claimed, ep.content_hash[:16])]
        stored = {content_id(ep) for ep in self._fetch(list(dict.fromkeys(looked_up)))}
        fresh = [ep for _, ep in hardened if ep.id not in stored]
        _, added = self._add(fresh)
        return len(added), len(hardened) - len(added)

    # -- lifetime --------------------------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        try:
            if getattr(self, "_collection", None) is not None and self._records is not None:
                self._mark_synced()
        except StoreError as exc:  # a full disk: the next open compares the two instead
            log.warning("webcoach: %s", exc)
        self._closed = True
        try:
            client = getattr(self, "_client", None)
            if client is not None:
                with self._wrap("close"):
                    client.close()
        finally:
            try:
                if self._records is not None:
                    self._records.close()
            finally:
                if self._lock is not None:
                    if not self.read_only:
                        private_tree(Path(self.location))  # Chroma writes its files with the umask's modes
                    self._lock.release()

    def wanted_elsewhere(self) -> bool:
        """Whether another process is waiting for this embedded store (a long-lived holder should close it when idle)."""
        return self._lock is not None and self._lock.wanted()

    def __enter__(self) -> EpisodeStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EpisodeStore(namespace={self.namespace!r}, location={self.location!r}, embedder={self.embedder.name!r})"


# -- compaction (embedded stores) ----------------------------------------------------------------------------------

CHROMA_FILE = "chroma.sqlite3"
_COMPACT_LOCK_WAIT_S = 5.0
# Chroma 1.x's `chroma vacuum` is Rust (what the `chroma` console script calls). It runs in a child process: it prints
# emoji lines to stdout, and a panic in it must not take the caller down. It exits 0 even when it fails, saying so on
# stderr, so that text is checked too.
_VACUUM = "import sys, chromadb_rust_bindings; chromadb_rust_bindings.cli(['chroma', 'vacuum', '--path', sys.argv[1], '--force'])"
_VACUUM_FAILED = "Failed to vacuum"


@dataclass(frozen=True, kw_only=True)
class Compaction:
    location: str
    bytes_before: int  # every file in the store directory
    bytes_after: int


def compact(
    path: str | os.PathLike[str] | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
    url: str | None = None,
) -> Compaction:
    """Give an embedded store's free space back to the disk: Chroma's vacuum (its write queue is purged once vectors
    reach the index, and `forget`s and the one-time layout move leave free pages), then the record file's. The store
    directory is `path`, else the one under `home` / WEBCOACH_HOME; it must not be open in any process, this one
    included. A Chroma server (`url` / WEBCOACH_CHROMA_URL) is refused: its disk is its operator's."""
    if path is not None and url is not None:
        raise ConfigError("give either path= (embedded store) or url= (Chroma server), not both")
    settings = resolve(home=home, chroma_url=url)
    if path is None and settings.chroma_url is not None:
        shown = urlsplit(settings.chroma_url)
        where = f"{shown.scheme}://{shown.netloc.rsplit('@', 1)[-1]}"  # never the credentials
        raise ConfigError(
            f"cannot compact the Chroma server at {where}: compacting a server is its operator's job (stop it, then "
            f"`chroma vacuum --path DIR` on the server's directory); to compact the embedded store, unset {ENV_CHROMA_URL} "
            "(or drop --chroma-url)"
        )
    chroma_dir = (Path(path).expanduser() if path is not None else settings.chroma_path).resolve()
    if not (chroma_dir / CHROMA_FILE).is_file():
        raise StoreError(
            f"no embedded store at {chroma_dir} (no {CHROMA_FILE}): nothing to compact; check --home / WEBCOACH_HOME"
        )
    # A store open here or in another process: one-line errors (after a few seconds: an idle MCP server gives it back).
    lock = StoreLock(chroma_dir).acquire(alone=True, wait_s=_COMPACT_LOCK_WAIT_S)
    try:
        # A Chroma client of this process that webcoach did not open would keep using the files the vacuum rewrites.
        if str(chroma_dir) in getattr(SharedSystemClient, "_identifier_to_system", {}):
            raise StoreLockedError(f"a Chroma client in this process has {chroma_dir} open: close it (client.close()) first")
        before = _tree_bytes(chroma_dir)
        _chroma_vacuum(chroma_dir)
        RecordsDB.vacuum(chroma_dir)
        private_tree(chroma_dir)  # Chroma writes its files with the umask's modes
        return Compaction(location=str(chroma_dir), bytes_before=before, bytes_after=_tree_bytes(chroma_dir))
    finally:
        lock.release()


def _chroma_vacuum(chroma_dir: Path) -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", _VACUUM, str(chroma_dir)], capture_output=True, text=True, errors="replace", check=False
        )
    except OSError as exc:
        raise StoreError(f"cannot start Chroma's vacuum for {chroma_dir} ({_one_line(exc)}): check that Python can run") from exc
    if done.returncode != 0 or _VACUUM_FAILED in done.stderr:
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        raise StoreError(
            f"Chroma could not compact {chroma_dir} ({reason}): check that the disk has room for a copy of {CHROMA_FILE} "
            f"and the files are yours and writable; `chroma vacuum --path {chroma_dir}` shows Chroma's own output"
        )


def _tree_bytes(root: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # gone meanwhile: nothing to count
                continue
    return total
