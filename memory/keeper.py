"""One store kept open between calls, given back when idle: what a long-lived process (the MCP server) uses.

Opening a store costs far more than a search (~230 ms at 10k episodes against ~2 ms warm: Chroma's client, the HNSW
index, the record file), so a server keeps one open while calls come. An embedded store is single-process (lock.py),
so it is closed between calls as soon as another process asks for it (a `webcoach` command waiting for the lock
touches a file beside it, lock.py), and in any case once no call has used it for `idle_s`. Against a Chroma server
nothing is locked, and the store is only closed when idle.

Calls are counted: the store is never closed under a call. A call that is cancelled or fails gives its use back all
the same (`use` is a context manager; `acquire` run in a worker thread whose caller was cancelled is handed back by
`give_back_when_done`). Reads open the store read-only (they never change it, and they never repair it); the first
write reopens it as a writer, which repairs what it safely can on open, and the writer then serves reads too."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from webcoach.memory.store import EpisodeStore

_UPGRADE_WAIT_S = 30.0
_POLL_S = 0.2  # how often an unused store looks for its idle time or another process asking
Opener = Callable[[bool], "EpisodeStore"]  # opener(write) -> a store; write=False: read-only


class StoreKeeper:
    def __init__(self, opener: Opener, *, idle_s: float = 60.0) -> None:
        self._open = opener
        self.idle_s = idle_s
        self._guard = threading.Condition()
        self._store: EpisodeStore | None = None
        self._writable = False
        self._users = 0
        self._last_used = 0.0
        self._watcher: threading.Thread | None = None

    def acquire(self, *, write: bool = False) -> EpisodeStore:
        """The kept store (opened, or reopened as a writer, when needed); pair with `release`. Blocks while opening."""
        with self._guard:
            if self._store is not None and write and not self._writable:
                # A read-only store in use (a cancelled call's thread still finishing): the writer waits for it.
                self._guard.wait_for(lambda: self._users == 0, timeout=_UPGRADE_WAIT_S)
                self._close_locked()
            if self._store is None:
                self._store = self._open(write)
                self._writable = write
            self._users += 1
            return self._store

    def release(self) -> None:
        with self._guard:
            self._users = max(0, self._users - 1)
            self._guard.notify_all()
            if self._users == 0 and self._store is not None:
                self._last_used = time.monotonic()
                if self.idle_s <= 0:
                    self._close_locked()
                elif self._watcher is None:
                    self._watcher = threading.Thread(target=self._watch, name="webcoach-store-keeper", daemon=True)
                    self._watcher.start()

    def _watch(self) -> None:
        """Close the store when it has been idle for `idle_s`, or sooner between calls when another process asks."""
        while True:
            time.sleep(_POLL_S)
            with self._guard:
                store = self._store
                if store is None:
                    self._watcher = None
                    return
                if self._users == 0 and (time.monotonic() - self._last_used >= self.idle_s or store.wanted_elsewhere()):
                    self._close_locked()
                    self._watcher = None
                    return

    def give_back_when_done(self, future: Future[EpisodeStore]) -> None:
        """The caller of an `acquire` running in a worker thread was cancelled: release once the thread is done."""

        def done(f: Future[EpisodeStore]) -> None:
            if not f.cancelled() and f.exception() is None:
                self.release()

        future.add_done_callback(done)

    @contextmanager
    def use(self, *, write: bool = False) -> Iterator[EpisodeStore]:
        store = self.acquire(write=write)
        try:
            yield store
        finally:
            self.release()

    @property
    def is_open(self) -> bool:
        return self._store is not None

    def _close_locked(self) -> None:
        store, self._store, self._writable = self._store, None, False
        if store is not None:
            store.close()

    def close(self) -> None:
        with self._guard:
            self._close_locked()
