"""Episodes to and from JSONL files (`webcoach memory export` / `import`): one episode per line, schema-versioned.

Kept apart from the store so the file format can be read and checked without Chroma.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError
from webcoach.condenser.episode import Episode
from webcoach.errors import InputError, StoreError
from webcoach.memory.migrations import upgrade


def why(exc: BaseException) -> str:
    """A one-line reason; pydantic's own first line ("3 validation errors for Episode") says too little."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()[:3])
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def export_jsonl(episodes: Iterable[Episode], path: str | os.PathLike[str]) -> int:
    """Write the episodes as JSONL; returns how many. The file appears whole or not at all, and an export of nothing
    never replaces an existing file (it may be the only backup, and the namespace a typo)."""
    target = Path(path)
    tmp = target.with_name(target.name + ".partial")
    written = 0
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as out:
            for episode in episodes:
                out.write(episode.model_dump_json() + "\n")
                written += 1
        if written == 0 and target.exists():
            tmp.unlink()
            raise StoreError(f"there are no episodes to export, so {target} was left as it was: check the namespace (-n)")
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return written


def read_jsonl(path: str | os.PathLike[str]) -> list[Episode]:
    """Every episode of an export, validated and migrated; one bad line fails the whole file (nothing half-imported)."""
    source = Path(path)
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {source}: {exc}") from exc
    episodes: list[Episode] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            episodes.append(Episode.model_validate(upgrade(data, what=f"{source} line {number}")))
        except StoreError as exc:  # a newer schema
            raise InputError(f"{exc}; nothing was imported") from exc
        except (ValueError, ValidationError) as exc:
            raise InputError(f"{source} line {number} is not an episode ({why(exc)}); nothing was imported") from exc
    return episodes
