"""What an eval's output folder keeps between invocations, and what a killed run leaves behind.

- run.json: the run's provenance (model, judge and its prompt, task source, selection, seeds, coach settings, memory
  snapshot, package, browser and code versions, dates), checked on --resume so a run is never continued with any
  other setting, and read by `webcoach report`.
- One invocation per folder at a time (a lock file), so cleaning up after a killed run never touches a live one.
- Browser profiles live under OUT/profiles while their agent runs: a SIGKILL leaves them, and their Chromium
  processes, behind; the next start kills those processes (found by their --user-data-dir under that folder) and
  deletes the folders.
- Locally served sites get one port per run (derived from the run's name, kept in run.json), so the routes stored in
  the coach's memory still lead somewhere after --resume and across shards; episodes imported with --memory from
  another run have their loopback host:port rewritten to this run's.
- Episodes are written to the task's run folder and stored before the result row; --resume stores again any episode
  that a row cites and memory lacks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from filelock import FileLock, Timeout
from webcoach.errors import ConfigError
from webcoach.hooks.runner import slug
from webcoach.tasks.results import TaskResult

if TYPE_CHECKING:
    from webcoach.memory.store import EpisodeStore

RUN_FILE = "run.json"
PROFILES = "profiles"
# What run.json records that may differ between the invocations of one run: every other key is a setting (or the
# code, packages and browser it ran on), and --resume refuses a change to any of them.
VOLATILE = ("started_at", "updated_at", "finished_at", "site_port", "embedder_used")
# A loopback host:port, with or without its scheme (condensed routes keep "127.0.0.1:PORT/path").
_LOOPBACK = re.compile(r"\b(https?://)?(?:127\.0\.0\.1|localhost|\[::1\]):\d+")
_PORTS = (20000, 40000)


def webcoach_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("webcoach")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / RUN_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not readable JSON ({exc}): fix or delete it") from None
    return data if isinstance(data, dict) else None


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    tmp = out_dir / f".{RUN_FILE}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, out_dir / RUN_FILE)  # a kill mid-write leaves the old file, never half of one


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def check_resume(out_dir: Path, before: dict[str, Any] | None, manifest: dict[str, Any]) -> None:
    """Refuse, in one line, to continue a run with any setting other than the one it was started with."""
    if before is None:
        return
    manifest = json.loads(json.dumps(manifest, default=str))  # as it will be read back (tuples become lists)
    # Keys an older webcoach did not record are not compared: its runs can still be resumed.
    changed = [k for k in before if k not in VOLATILE and k in manifest and before.get(k) != manifest.get(k)]
    if changed:
        what = "; ".join(f"{k} {_short(before.get(k))} -> {_short(manifest.get(k))}" for k in changed)
        raise ConfigError(
            f"{out_dir} was started with other settings ({what}): resume with the options it was started with, "
            "or choose another --out"
        )


@contextlib.contextmanager
def lock_out(out_dir: Path) -> Iterator[None]:
    lock = FileLock(str(out_dir / ".eval.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ConfigError(f"another webcoach eval is running in {out_dir}: wait for it, or choose another --out") from None
    try:
        yield
    finally:
        lock.release()


def profiles_dir(out_dir: Path) -> Path:
    path = out_dir / PROFILES
    path.mkdir(parents=True, exist_ok=True)
    return path


def clean_leftovers(out_dir: Path) -> tuple[int, int]:
    """Kill the browsers a killed run of this folder left running and delete their profiles: (processes, folders)."""
    folder = out_dir / PROFILES
    leftovers = [p for p in folder.iterdir()] if folder.is_dir() else []
    if not leftovers:
        return 0, 0
    killed = 0
    for pid in _pids_using(folder.resolve()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    if killed:
        time.sleep(0.3)  # let Chromium's processes exit before their profile is removed under them
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return killed, len(leftovers)


def _pids_using(folder: Path) -> list[int]:
    """Processes whose command line names a path under `folder` (Chromium gets --user-data-dir=...), never this one."""
    found = []
    needle = str(folder).encode()
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


def stable_port(run_name: str, before: dict[str, Any] | None) -> int:
    """The port this run serves its local sites on: the one it used before, else one derived from its name (the same
    for every shard of a run), else the next free one after it."""
    if before is not None and isinstance(before.get("site_port"), int):
        wanted = int(before["site_port"])
        if _free(wanted):
            return wanted
        raise ConfigError(f"port {wanted}, where this run serves its local sites, is in use: free it, then --resume")
    low, high = _PORTS
    start = low + int(hashlib.sha1(run_name.encode()).hexdigest(), 16) % (high - low)
    for offset in range(200):
        port = low + (start - low + offset) % (high - low)
        if _free(port):
            return port
    raise ConfigError("no free port to serve the local sites on between 20000 and 40000")


def _free(port: int) -> bool:
    with socket.socket() as s:
        # As the site server binds (http.server sets SO_REUSEADDR): a port whose last connections linger in
        # TIME_WAIT after the previous invocation is free for it.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def localize(text: str, base: str | None) -> str:
    """Point loopback URLs (a locally served site, on whatever port another run used) at this run's site."""
    if base is None:
        return text
    parts = urlsplit(base)
    return _LOOPBACK.sub(lambda m: f"{m.group(1) or ''}{parts.netloc}", text)


def import_memory(store: EpisodeStore, path: Path, base: str | None) -> tuple[int, int]:
    """`store.import_` of a memory export, with its local-site URLs moved to this run's site."""
    text = path.read_text(encoding="utf-8")
    moved = localize(text, base)
    if moved == text:
        return store.import_(path)
    with tempfile.TemporaryDirectory(prefix="webcoach-memory-") as tmp:
        copy = Path(tmp) / path.name
        copy.write_text(moved, encoding="utf-8")
        return store.import_(copy)


def run_folder(task_id: str, repeat: int = 0) -> str:
    """A folder name per task id (ids hold spaces and may differ only in case) and repeat."""
    name = f"{slug(task_id, 48)}-{hashlib.sha1(task_id.encode()).hexdigest()[:6]}"
    return name if repeat == 0 else f"{name}-r{repeat}"


def restore_episodes(out_dir: Path, arm: str, store: EpisodeStore, rows: Sequence[TaskResult]) -> int:
    """Store again every episode that a finished row of `arm` cites and the arm's memory lacks (a kill between the two
    writes, or a memory server that lost data); the copy kept in the row's run folder is used."""
    from webcoach.condenser.episode import Episode

    restored = 0
    for row in rows:
        if row.arm != arm or row.episode_id is None or store.contains(row.episode_id):
            continue
        path = out_dir / "runs" / arm / run_folder(row.task_id, row.repeat) / "episode.json"
        if path.is_file():
            store.add(Episode.model_validate_json(path.read_text(encoding="utf-8")))
            restored += 1
    return restored
