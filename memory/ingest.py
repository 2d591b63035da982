"""Ingest: condense run logs and store them in batches, going on past bad files.

Episodes are written BATCH at a time, or what was condensed every FLUSH_S seconds, whichever comes first (one
existence query and one Chroma write per batch, not per file: a write costs ~0.1 s however small); a file is
reported only once its batch is stored, so a crash or Ctrl-C loses nothing that was reported stored (on Ctrl-C the
episodes already condensed are written before the interrupt goes on). Rule-based condensing takes under 1 ms a file, less
than a worker process costs to start, so it runs in line; LLM condensing waits on the network and runs in threads.

The CLI's `webcoach ingest` is a progress bar over `ingest_files`; anything else that turns files into stored episodes
(the MCP server's `record_run`, scripts) calls it too, so every way in reports the same statuses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from webcoach.condenser.condense import condense_all
from webcoach.condenser.episode import Episode
from webcoach.errors import ConfigError, StoreUnavailableError, WebcoachError
from webcoach.memory.store import EpisodeStore

Status = Literal["added", "duplicate", "error"]
BATCH = 500  # files per store write at most: Chroma's per-write cost is amortised, memory stays small
FLUSH_S = 2.0  # ...and at least this often, so the progress bar and what is stored keep up with slow condensing
LLM_WORKERS = 4  # LLM condensing is network-bound: this many calls in flight


@dataclass(frozen=True, kw_only=True)
class IngestResult:
    file: str
    status: Status
    id: str | None = None
    outcome: str | None = None
    condenser: str | None = None
    error: str | None = None
    # Every episode the file made: a run that worked on several sites is one episode per site (`id` is the main one).
    ids: tuple[str, ...] = ()
    sites: tuple[str | None, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items() if v is not None and v != ()}


def check_outcome(outcome: str | None) -> str | None:
    if outcome is not None and outcome not in ("success", "failure"):
        raise ConfigError(f"--outcome must be 'success' or 'failure', not {outcome!r}")
    return outcome


def ingest_files(
    store: EpisodeStore,
    paths: Iterable[Path],
    *,
    task: str | None = None,
    outcome: str | None = None,
    llm: str | None = None,
    secrets: Sequence[str] = (),
    on_file: Callable[[Path], None] | None = None,
    on_done: Callable[[IngestResult], None] | None = None,
    batch: int = BATCH,
    flush_s: float = FLUSH_S,
) -> list[IngestResult]:
    """Condense and store each file; results come back (and go to `on_done`) in file order, each once its batch is
    stored. A file that cannot be read becomes an "error" result and the rest go on; what was stored stays stored.
    `outcome` is the user's own verdict and labels every episode as the human's."""
    check_outcome(outcome)
    results: list[IngestResult] = []
    pending: list[tuple[Path, list[Episode] | WebcoachError]] = []
    last_flush = [time.monotonic()]

    def flush() -> None:
        episodes = [e for _, made in pending if isinstance(made, list) for e in made]
        try:
            fresh = store.add_batch(episodes)
            failure: WebcoachError | None = None
        except StoreUnavailableError:
            # The server is down: every further batch would wait out the same timeout. Stop; nothing of this batch
            # was stored, so none of it is reported (the caller says how far it got).
            pending.clear()
            raise
        except WebcoachError as exc:  # the store refused this batch: say so for its files and go on
            fresh, failure = set(), exc
        for path, item in pending:
            if isinstance(item, WebcoachError) or failure is not None:
                result = IngestResult(file=str(path), status="error", error=str(item if failure is None else failure))
            else:
                # Within one batch the same log twice is added once: the first is "added", the rest duplicates.
                main = item[0]
                status: Status = "added" if main.id in fresh else "duplicate"
                fresh.difference_update(e.id for e in item)
                result = IngestResult(
                    file=str(path),
                    status=status,
                    id=main.id,
                    outcome=main.outcome.value,
                    condenser=main.condenser,
                    ids=tuple(e.id for e in item),
                    sites=tuple(e.domain for e in item),
                )
            results.append(result)
            if on_done is not None:
                on_done(result)
        pending.clear()
        last_flush[0] = time.monotonic()

    def one(path: Path) -> list[Episode] | WebcoachError:
        # The person running the ingest vouches for the outcome they gave (only the outcome, not the log's text).
        kw: dict[str, Any] = {
            "task": task,
            "llm": llm,
            "outcome": outcome,
            "outcome_by": "human" if outcome else None,
            "vouched_by": "human:ingest" if outcome else None,
        }
        try:
            return condense_all(path, secrets=secrets, **kw)
        except WebcoachError as exc:  # one bad file must not stop (or undo) the others
            return exc

    try:
        for path, item in _condensed(paths, one, threads=LLM_WORKERS if llm else 0, on_file=on_file):
            pending.append((path, item))
            if len(pending) >= batch or time.monotonic() - last_flush[0] >= flush_s:
                flush()
    finally:
        # Normal end, Ctrl-C or a crash in condensing: what was condensed is stored (and reported) before we leave.
        if pending:
            flush()
    return results


def _condensed(
    paths: Iterable[Path],
    one: Callable[[Path], list[Episode] | WebcoachError],
    *,
    threads: int,
    on_file: Callable[[Path], None] | None,
) -> Iterator[tuple[Path, list[Episode] | WebcoachError]]:
    if threads <= 1:
        for path in paths:
            if on_file is not None:
                on_file(path)
            yield path, one(path)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webcoach-ingest") as pool:
        window: list[tuple[Path, object]] = []
        for path in paths:
            if on_file is not None:
                on_file(path)
            window.append((path, pool.submit(one, path)))
            if len(window) >= threads * 2:
                done_path, future = window.pop(0)
                yield done_path, future.result()  # type: ignore[attr-defined]
        for done_path, future in window:
            yield done_path, future.result()  # type: ignore[attr-defined]
