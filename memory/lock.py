"""One process at a time on an embedded Chroma directory.

Two processes writing one PersistentClient path corrupt its vector index without any error (measured: lost vectors, once
a segfault), so the embedded store holds an exclusive, non-blocking OS lock on a file in that directory for as long as it
is open. Stores in the same process share the lock through a reference count: Chroma itself shares one client per path
in-process, and an OS lock taken twice by one process would lock that process out of its own store.

A process that waits for the lock (`acquire(wait_s=...)`) touches a `webcoach.lock.wanted` file beside it while it
waits; a long-lived holder (the MCP server, memory/keeper.py) sees it (`wanted()`) and gives the store back between
its calls, so `webcoach` commands run beside a server that keeps the store warm."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from webcoach.errors import StoreError, StoreLockedError

LOCK_NAME = "webcoach.lock"
WANTED_NAME = "webcoach.lock.wanted"  # touched by a process waiting for the lock (StoreLock.acquire(wait_s=...))
WANTED_FRESH_S = 5.0

_held: dict[Path, _Held] = {}
_guard = threading.Lock()


@dataclass
class _Held:
    fd: int
    refs: int


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


def _holder_pid(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return "?"
    return text if text.isdigit() else "?"


class StoreLock:
    """Held from acquire() to release(); release() is idempotent. Use `with StoreLock(dir):` or call the two yourself."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self._key: Path | None = None

    def acquire(self, *, alone: bool = False, wait_s: float = 0.0) -> StoreLock:
        """`alone`: refuse when this process itself has the store open (compaction rewrites files an open store uses);
        `wait_s`: how long to keep trying while another process holds it (an MCP server gives it back when idle)."""
        if self._key is not None:
            return self
        deadline = time.monotonic() + wait_s
        asked = False
        while True:
            try:
                got = self._acquire(alone=alone)
            except StoreLockedError as exc:
                if "another process" not in str(exc) or time.monotonic() >= deadline:
                    if asked:  # no longer waiting: the holder need not give it back for us
                        with contextlib.suppress(OSError):
                            self.wanted_path.unlink(missing_ok=True)
                    raise
                asked = self._ask() or asked
                time.sleep(0.05)
                continue
            if asked:
                with contextlib.suppress(OSError):
                    self.wanted_path.unlink(missing_ok=True)  # asked and got it
            return got

    @property
    def wanted_path(self) -> Path:
        return self.directory / WANTED_NAME

    def _ask(self) -> bool:
        """Tell the holder that another process waits (a long-lived holder, the MCP server, then gives it back)."""
        try:
            self.wanted_path.touch()
        except OSError:  # a full disk or a read-only folder: the holder still gives it back when idle
            return False
        return True

    def wanted(self) -> bool:
        """Whether another process has asked for the store in the last few seconds."""
        try:
            return time.time() - self.wanted_path.stat().st_mtime < WANTED_FRESH_S
        except OSError:
            return False

    def _acquire(self, *, alone: bool) -> StoreLock:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store directory {self.directory}: {exc.strerror}") from exc
        key = self.path.resolve()
        with _guard:
            held = _held.get(key)
            if held is not None and alone:
                raise StoreLockedError(
                    f"the embedded store at {self.directory} is open in this process: close every EpisodeStore on it "
                    "(store.close() or its `with` block) first"
                )
            if held is not None:
                held.refs += 1
                self._key = key
                return self
            try:
                # No O_TRUNC: a process that fails to get the lock must not wipe the holder's pid.
                fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise StoreError(f"cannot open the lock file {key}: {exc.strerror}") from exc
            if not _try_lock(fd):
                pid = _holder_pid(fd)
                os.close(fd)
                raise StoreLockedError(
                    f"another process (pid {pid}) is using the embedded store at {self.directory}; embedded Chroma is "
                    "single-process: for several processes, serve a separate directory (chroma run --path "
                    f"{self.directory.parent / 'chroma-server'} --port 8000; never this one, its data would be corrupted), "
                    "set WEBCOACH_CHROMA_URL=http://127.0.0.1:8000 and move episodes there with `webcoach memory export` "
                    "then `webcoach memory import`"
                )
            try:  # the pid only names the holder in others' errors: a full disk must not stop a read
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError:
                pass
            _held[key] = _Held(fd=fd, refs=1)
            self._key = key
        return self

    def release(self) -> None:
        if self._key is None:
            return
        key, self._key = self._key, None
        with _guard:
            held = _held.get(key)
            if held is None:
                return
            held.refs -= 1
            if held.refs > 0:
                return
            del _held[key]
            # The file stays: deleting it would let a waiting process lock an unlinked inode while a third makes a new one.
            try:
                _unlock(held.fd)
            finally:
                os.close(held.fd)

    @property
    def held(self) -> bool:
        return self._key is not None

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
