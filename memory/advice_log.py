"""The advice log: every intervention the coach made, the run it went to and, once known, how that run ended.

It is what the "helped"/"hurt" counts of episodes are computed from, so they can be audited (`tally`), and what
`webcoach memory advice` and the UI's Advice log show. One log per namespace, beside the episodes:

- embedded store: `webcoach-advice-<namespace>.jsonl` in the store directory, append-only (an embedded store has one
  process, lock.py), one `{"advice": ...}` line per intervention and one `{"outcome": ...}` line when a run ends;
- Chroma server: a side collection of the namespace (`webcoach-<namespace>.advice`, handed in by store.py, which alone
  imports chromadb), one record per intervention whose outcome is updated in place.

Entries hold the coach's own words (`text`, `why`), never page-derived observations: the episodes cited keep those.
Exported and imported with the episodes (`{"webcoach_advice": ...}` lines in the same JSONL file, see transfer.py).
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from webcoach.errors import InputError, StoreError
from webcoach.memory.files import FILE_MODE, text_lines

RunOutcome = Literal["success", "failure", "unknown"]
Channel = Literal["browser-use", "watch", "mcp", "api"]
EXPORT_KEY = "webcoach_advice"  # an export line holding an advice entry, not an episode
FILE_PREFIX = "webcoach-advice-"
_PAGE = 5000


def new_run_id() -> str:
    return "run-" + uuid.uuid4().hex[:12]


class AdviceEntry(BaseModel):
    """One intervention. `outcome` is the run's (None until it ends); `rated` marks an outcome a client gave for this
    piece of advice itself (MCP rate_advice) rather than for the whole run."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: "adv-" + uuid.uuid4().hex[:12])
    run: str
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    channel: str = "api"
    task: str = ""
    site: str | None = None
    trigger: str = "start"
    step: int | None = None
    episode_ids: list[str] = Field(default_factory=list)
    text: str = ""  # the coach's own sentence (fixed words, no page text)
    why: str = ""
    outcome: RunOutcome | None = None
    rated: bool = False
    run_episode: str | None = None  # the episode the run itself was stored as (never credited for its own advice)
    imported_from: str | None = None


class _Backend(Protocol):
    def append(self, entries: Sequence[AdviceEntry]) -> None: ...
    def settle(self, updates: Sequence[AdviceEntry]) -> None: ...
    def read(self) -> list[AdviceEntry]: ...


class FileBackend:
    """An embedded store's log: append-only JSONL, folded on read (an outcome line updates the entries of its run)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _write(self, lines: Iterable[str]) -> None:
        text = "".join(lines)
        if not text:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
            with os.fdopen(fd, "r+", encoding="utf-8") as out:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    text = "\n" + text  # a line cut short by a crash stays alone on its line, skipped on read
                out.write(text)
        except OSError as exc:
            raise StoreError(f"cannot write the advice log {self.path}: {exc.strerror or exc}") from exc

    def append(self, entries: Sequence[AdviceEntry]) -> None:
        self._write(json.dumps({"advice": e.model_dump(mode="json")}) + "\n" for e in entries)

    def settle(self, updates: Sequence[AdviceEntry]) -> None:
        self._write(
            json.dumps({"outcome": {"id": e.id, "outcome": e.outcome, "rated": e.rated, "run_episode": e.run_episode}}) + "\n"
            for e in updates
        )

    def read(self) -> list[AdviceEntry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"cannot read the advice log {self.path}: {exc}") from exc
        entries: dict[str, AdviceEntry] = {}
        for line in text.splitlines():
            try:  # a line cut short by a crash is skipped: the log is an audit trail, not the episodes' truth
                data = json.loads(line)
                if "advice" in data:
                    entry = AdviceEntry.model_validate(data["advice"])
                    entries.setdefault(entry.id, entry)
                elif "outcome" in data and data["outcome"]["id"] in entries:
                    o = data["outcome"]
                    old = entries[o["id"]]
                    entries[o["id"]] = old.model_copy(
                        update={"outcome": o["outcome"], "rated": bool(o.get("rated")), "run_episode": o.get("run_episode")}
                    )
            except (ValueError, KeyError, TypeError, ValidationError):
                continue
        return list(entries.values())


class AdviceCollection(Protocol):
    """The part of a Chroma collection the server log uses (store.py hands one in)."""

    def get(self, *args: Any, **kwargs: Any) -> Any: ...
    def upsert(self, *args: Any, **kwargs: Any) -> Any: ...


class CollectionBackend:
    """A Chroma server's log: one record per entry in a side collection; outcomes are written over in place."""

    def __init__(self, collection: AdviceCollection, wrap: Callable[[str], AbstractContextManager[None]]) -> None:
        self._col = collection
        self._wrap = wrap

    @staticmethod
    def _meta(e: AdviceEntry) -> dict[str, Any]:
        return {"body": e.model_dump_json(), "run": e.run}

    def append(self, entries: Sequence[AdviceEntry]) -> None:
        if entries:
            with self._wrap("write the advice log"):
                self._col.upsert(
                    ids=[e.id for e in entries], embeddings=[[1.0]] * len(entries), metadatas=[self._meta(e) for e in entries]
                )

    settle = append

    def read(self) -> list[AdviceEntry]:
        out: list[AdviceEntry] = []
        offset = 0
        while True:
            with self._wrap("read the advice log"):
                page = self._col.get(limit=_PAGE, offset=offset, include=["metadatas"])
            if not page["ids"]:
                return out
            for meta in page["metadatas"] or []:
                try:
                    out.append(AdviceEntry.model_validate_json(str((meta or {}).get("body", ""))))
                except ValidationError:
                    continue
            offset += len(page["ids"])


class AdviceLog:
    def __init__(self, backend: _Backend) -> None:
        self._backend = backend

    def record(self, entry: AdviceEntry) -> AdviceEntry:
        self._backend.append([entry])
        return entry

    def entries(self, *, site: str | None = None, episode: str | None = None, limit: int | None = None) -> list[AdviceEntry]:
        """Newest first, of `site` / citing `episode` when given."""
        found = [
            e for e in self._backend.read() if (site is None or e.site == site) and (episode is None or episode in e.episode_ids)
        ]
        found.sort(key=lambda e: (_aware(e.at), e.id), reverse=True)
        return found if limit is None else found[:limit]

    def settle(
        self, *, outcome: RunOutcome, run: str | None = None, ids: Iterable[str] = (), run_episode: str | None = None
    ) -> int:
        """Record how a run ended on its entries not settled yet (by `run`, or the entries `ids`); returns how many."""
        wanted = set(ids)
        todo = [
            e.model_copy(update={"outcome": outcome, "run_episode": run_episode or e.run_episode})
            for e in self._backend.read()
            if e.outcome is None and ((run is not None and e.run == run) or e.id in wanted)
        ]
        self._backend.settle(todo)
        return len(todo)

    def rate(self, entry_id: str, helped: bool) -> bool:
        """A client's verdict on one piece of advice (MCP rate_advice)."""
        found = [e for e in self._backend.read() if e.id == entry_id]
        if not found:
            return False
        self._backend.settle([found[0].model_copy(update={"outcome": "success" if helped else "failure", "rated": True})])
        return True

    def import_entries(self, entries: Iterable[AdviceEntry], *, id_map: dict[str, str], source: str) -> int:
        """Add exported entries (their cited ids mapped to the ids the import gave those episodes); returns how many
        were new."""
        known = {e.id for e in self._backend.read()}
        fresh = [
            e.model_copy(update={"episode_ids": [id_map.get(i, i) for i in e.episode_ids], "imported_from": source})
            for e in entries
            if e.id not in known
        ]
        self._backend.append(fresh)
        return len(fresh)


def tally(entries: Iterable[AdviceEntry]) -> dict[str, tuple[int, int]]:
    """Episode id -> (helped, hurt) as the store counts them: each ended run credits (success) or blames (failure) each
    episode its advice cited once, never the run's own episode; a rated piece of advice counts on its own."""
    helped: Counter[str] = Counter()
    hurt: Counter[str] = Counter()
    by_run: dict[tuple[str, str], set[str]] = {}
    for e in entries:
        if e.outcome not in ("success", "failure"):
            continue
        key = (e.id if e.rated else e.run, e.outcome)
        by_run.setdefault(key, set()).update(i for i in e.episode_ids if i != e.run_episode)
    for (_, outcome), cited in by_run.items():
        (helped if outcome == "success" else hurt).update(cited)
    return {i: (helped[i], hurt[i]) for i in set(helped) | set(hurt)}


def export_lines(entries: Iterable[AdviceEntry]) -> Iterator[str]:
    for e in entries:
        yield json.dumps({EXPORT_KEY: e.model_dump(mode="json")}) + "\n"


def read_export(path: str | os.PathLike[str]) -> list[AdviceEntry]:
    """The advice entries of an export file (episode lines are transfer.read_jsonl's)."""
    source = Path(path)
    lines = text_lines(source)
    out = []
    for number, line in enumerate(lines, start=1):
        if EXPORT_KEY not in line:
            continue
        try:
            data = json.loads(line)
            if isinstance(data, dict) and EXPORT_KEY in data:
                out.append(AdviceEntry.model_validate(data[EXPORT_KEY]))
        except (ValueError, ValidationError) as exc:
            raise InputError(f"{source} line {number} is not an advice entry ({exc}); nothing was imported") from exc
    return out


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
