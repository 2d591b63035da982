"""Episodes to and from JSONL files (`webcoach memory export` / `import`): one episode per line, schema-versioned.

Kept apart from the store so the file format can be read and checked without Chroma.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import ValidationError
from webcoach.condenser.episode import Episode
from webcoach.condenser.guard import clean_episode
from webcoach.errors import InputError, StoreError
from webcoach.memory.advice_log import EXPORT_KEY as ADVICE_KEY
from webcoach.memory.files import text_lines, write_private
from webcoach.memory.migrations import upgrade


def why(exc: BaseException) -> str:
    """A one-line reason; pydantic's own first line ("3 validation errors for Episode") says too little."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()[:3])
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def export_jsonl(episodes: Iterable[Episode], path: str | os.PathLike[str], extra: Iterable[str] = ()) -> int:
    """Write the episodes as JSONL (a 0600 file); returns how many. The file appears whole or not at all, through a
    temporary file created safely beside it (memory/files.py): a symlink planted at any name is never followed. An
    export of nothing never replaces an existing file (it may be the only backup, and the namespace a typo)."""
    target = Path(path)
    remaining = iter(episodes)
    first = next(remaining, None)
    if first is None and target.exists():
        raise StoreError(f"there are no episodes to export, so {target} was left as it was: check the namespace (-n)")
    chosen = [] if first is None else itertools.chain([first], remaining)
    lines = itertools.chain((episode.model_dump_json() + "\n" for episode in chosen), extra)
    counted = 0

    def counting() -> Iterable[str]:
        nonlocal counted
        for line in lines:
            counted += not line.startswith('{"' + ADVICE_KEY)
            yield line

    write_private(target, counting())
    return counted


# Fields that are the record's content (what it says about a run), as opposed to bookkeeping a file could inflate.
_CONTENT_FIELDS = (
    "task",
    "start_url",
    "outcome",
    "outcome_by",
    "outcome_reason",
    "summary",
    "key_steps",
    "failure_modes",
    "what_worked",
    "lessons",
    "final_answer",
    "step_count",
    "duration_s",
    "source_kind",
    "content_hash",
    "condenser",
)
MAX_FUTURE = timedelta(days=1)  # clock skew between machines, no more


def content_id(episode: Episode) -> str:
    """An id derived from what an episode says, so an imported record cannot take another episode's id."""
    body = episode.model_dump(mode="json", include=set(_CONTENT_FIELDS))
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def harden(
    episodes: Iterable[Episode], source: str, *, trust_counts: bool = False, now: datetime | None = None
) -> list[tuple[str, Episode]]:
    """Imported episodes as webcoach will store them, each with the id its file claimed: the site re-derived from
    `start_url` (the model does it), the id derived from the content, provenance recorded, and `helped`/`hurt`/
    `created_at` reset unless `trust_counts`. Impossible values (a date in the future, counts without a source) are
    refused: one and nothing is imported."""
    when = now or datetime.now(UTC)
    out: list[tuple[str, Episode]] = []
    for number, episode in enumerate(episodes, start=1):
        created = episode.created_at if episode.created_at.tzinfo else episode.created_at.replace(tzinfo=UTC)
        if created > when + MAX_FUTURE:
            raise InputError(
                f"{source} episode {number} ({episode.id}) is dated in the future ({created:%Y-%m-%d}); nothing was imported"
            )
        if episode.helped + episode.hurt > 100_000:
            raise InputError(f"{source} episode {number} ({episode.id}) has impossible usefulness counts; nothing was imported")
        update: dict[str, object] = {
            "imported_from": Path(source).name,
            "imported_at": when,
            "pinned": False,  # only a person on this machine approves (memory pin); a file cannot
            "banned": False,
            "vouched_by": None,  # nor vouch for an outcome: what a file says about who judged it is its claim
        }
        if episode.start_url is None:
            update["domain"] = None  # a site claimed with nothing to derive it from is not taken
        if not trust_counts:
            update |= {"helped": 0, "hurt": 0, "created_at": when}
        hardened = clean_episode(episode.model_copy(update=update))  # no invisible text stored from a file either
        out.append((episode.id, hardened.model_copy(update={"id": content_id(hardened)})))
    return out


def read_jsonl(path: str | os.PathLike[str]) -> list[Episode]:
    """Every episode of an export, validated and migrated; one bad line fails the whole file (nothing half-imported)."""
    source = Path(path)
    lines = text_lines(source)
    episodes: list[Episode] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if set(data) == {ADVICE_KEY}:
                continue  # an advice log entry exported with the episodes (memory/advice_log.py reads those)
            episodes.append(Episode.model_validate(upgrade(data, what=f"{source} line {number}")))
        except StoreError as exc:  # a newer schema
            raise InputError(f"{exc}; nothing was imported") from exc
        except (ValueError, ValidationError) as exc:
            raise InputError(f"{source} line {number} is not an episode ({why(exc)}); nothing was imported") from exc
    return episodes
