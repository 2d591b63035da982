"""Ingest: condense run logs and store them, one file at a time, going on past bad files.

The CLI's `webcoach ingest` is a progress bar over `ingest_files`; anything else that turns files into stored episodes
(the MCP server's `record_run`, scripts) calls it too, so every way in reports the same statuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from webcoach.condenser.condense import condense
from webcoach.errors import ConfigError, WebcoachError
from webcoach.memory.store import EpisodeStore

Status = Literal["added", "duplicate", "error"]


@dataclass(frozen=True, kw_only=True)
class IngestResult:
    file: str
    status: Status
    id: str | None = None
    outcome: str | None = None
    condenser: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


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
) -> list[IngestResult]:
    """Condense and store each file. A file that cannot be read becomes an "error" result and the rest go on; what was
    stored before it stays stored. `outcome` is the user's own verdict and labels every episode as the human's."""
    check_outcome(outcome)
    results: list[IngestResult] = []
    for path in paths:
        if on_file is not None:
            on_file(path)
        try:
            episode = condense(
                path, task=task, llm=llm, outcome=outcome, outcome_by="human" if outcome else None, secrets=secrets
            )
            is_new = not store.contains(episode.id)
            store.add(episode)
            result = IngestResult(
                file=str(path),
                status="added" if is_new else "duplicate",
                id=episode.id,
                outcome=episode.outcome.value,
                condenser=episode.condenser,
            )
        except WebcoachError as exc:  # one bad file must not stop (or undo) the others
            result = IngestResult(file=str(path), status="error", error=str(exc))
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results
