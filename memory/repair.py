"""What `webcoach memory repair` does to make an embedded store's index agree with its records, and what it says.

The record file (records_db.py) is the one source of truth; Chroma's vectors and the per-site counts are an index
derived from it. A kill between the two writes of an add or a forget, a disk that filled up while Chroma wrote its
index, or a backup of one of the two files put back, leave them disagreeing. Repair moves the index towards the
records and never the other way:
- a record with no vector is embedded again from its text and indexed;
- a vector with no record (a forgotten episode, or one whose record file was lost) cannot be shown, its text is gone:
  it is copied aside (id, site, vector) into the store's `webcoach-repair/` folder, then removed;
- a vector whose site differs from its record's gets the record's site;
- a record filed under a site its start URL no longer gives (the rules for what a site is changed: a local host is
  host:port since 0.1.x, a shared host's tenant is its own site) is filed again, with its vector (explicit repair
  only: it reads every record);
- an index Chroma cannot read at all (a full disk cut its files short) is set aside whole and built again from every
  record;
- per-site counts are counted again from the records.
Rows are never removed here: only `forget` removes an episode.

No chromadb here: store.py reads the two sides, hands them to `plan`, and carries the plan out."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from webcoach.memory.files import private_dir, write_private

REPAIR_DIR = "webcoach-repair"  # beside the store's files: copies of what a repair took out of the index


@dataclass(frozen=True, kw_only=True)
class Plan:
    namespace: str
    location: str
    records: int
    vectors: int | None  # None: the index could not be read
    to_index: tuple[str, ...] = ()  # records with no vector
    to_remove: tuple[str, ...] = ()  # vectors with no record
    to_resite: tuple[str, ...] = ()  # vectors whose site is not their record's
    to_refile: tuple[str, ...] = ()  # records whose site is not the one their start URL gives now
    unreadable: str | None = None  # why the index cannot be read (then every record is indexed again)

    @property
    def needed(self) -> bool:
        return bool(self.to_index or self.to_remove or self.to_resite or self.to_refile or self.unreadable)

    def describe(self) -> str:
        """One line: what disagrees (or that nothing does)."""
        if self.unreadable is not None:
            return (
                f"the vector index cannot be read ({self.unreadable}); it will be set aside and built again from the "
                f"{self.records} record(s)"
            )
        parts = []
        if self.to_index:
            parts.append(f"{len(self.to_index)} record(s) have no vector (they will be embedded again from their text)")
        if self.to_remove:
            parts.append(
                f"{len(self.to_remove)} vector(s) have no record (forgotten, or their record file was replaced; they "
                f"will be copied to {REPAIR_DIR}/ and removed)"
            )
        if self.to_resite:
            parts.append(f"{len(self.to_resite)} vector(s) carry another site than their record (it will be corrected)")
        if self.to_refile:
            parts.append(
                f"{len(self.to_refile)} record(s) are filed under a site their start URL no longer gives (a local host "
                "is host:port now; they will be filed again)"
            )
        if not parts:
            return f"index and records agree ({self.records} episode(s))"
        return "; ".join(parts)


@dataclass(frozen=True, kw_only=True)
class Repair:
    """What `EpisodeStore.repair` found and (unless `dry_run`) did."""

    plan: Plan
    dry_run: bool
    indexed: int = 0
    removed: int = 0
    resited: int = 0
    refiled: int = 0
    rebuilt: bool = False
    copy: str | None = None  # where the vectors taken out were copied
    counts: dict[str, int] = field(default_factory=dict)  # episodes per site, counted again from the records

    def line(self) -> str:
        p = self.plan
        where = f"namespace {p.namespace!r} at {p.location}"
        if self.dry_run:
            return f"{where}: {p.describe()}" + ("" if p.needed else "; nothing to do")
        if not p.needed:
            return f"{where}: index and records agree ({p.records} episode(s)); site counts checked"
        done = []
        if self.rebuilt:
            done.append(f"built the index again from {self.indexed} record(s)")
        elif self.indexed:
            done.append(f"indexed {self.indexed} record(s) that had no vector")
        if self.removed:
            done.append(f"removed {self.removed} vector(s) with no record (copied to {self.copy})")
        if self.resited:
            done.append(f"corrected the site of {self.resited} vector(s)")
        if self.refiled:
            done.append(f"filed {self.refiled} record(s) under the site their start URL gives")
        return f"{where}: " + "; ".join(done) + f"; {p.records} episode(s), none lost"

    def as_dict(self) -> dict[str, object]:
        p = self.plan
        return {
            "namespace": p.namespace,
            "location": p.location,
            "dry_run": self.dry_run,
            "records": p.records,
            "vectors": p.vectors,
            "unreadable": p.unreadable,
            "to_index": len(p.to_index),
            "to_remove": len(p.to_remove),
            "to_resite": len(p.to_resite),
            "to_refile": len(p.to_refile),
            "indexed": self.indexed,
            "removed": self.removed,
            "resited": self.resited,
            "refiled": self.refiled,
            "rebuilt": self.rebuilt,
            "copy": self.copy,
        }


def plan(
    namespace: str, location: str, records: Mapping[str, str], vectors: Mapping[str, str] | None, unreadable: str | None = None
) -> Plan:
    """Compare records (id -> site) with the index's vectors (id -> site; None when the index cannot be read)."""
    if vectors is None:
        return Plan(
            namespace=namespace,
            location=location,
            records=len(records),
            vectors=None,
            to_index=tuple(sorted(records)),
            unreadable=unreadable or "unreadable",
        )
    return Plan(
        namespace=namespace,
        location=location,
        records=len(records),
        vectors=len(vectors),
        to_index=tuple(sorted(set(records) - set(vectors))),
        to_remove=tuple(sorted(set(vectors) - set(records))),
        to_resite=tuple(sorted(i for i, site in vectors.items() if i in records and (site or "") != records[i])),
    )


def keep_copy(location: str, namespace: str, rows: Iterable[tuple[str, str, Sequence[float]]]) -> Path:
    """Write the vectors a repair takes out of the index (id, site, vector) as JSONL under the store's repair folder;
    returns the file. A later `import` cannot use them (their text is gone), but nothing leaves the disk unseen."""
    folder = private_dir(Path(location) / REPAIR_DIR)
    target = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{namespace}-vectors-without-records.jsonl"
    lines = (
        json.dumps({"id": i, "site": site, "vector": [round(float(x), 7) for x in vector]}) + "\n" for i, site, vector in rows
    )
    write_private(target, lines)
    return target


def set_aside(location: str, namespace: str, folders: Iterable[Path]) -> Path | None:
    """Move an unreadable index's files (Chroma's segment folders) into the repair folder, whole; returns where."""
    moved = [f for f in folders if f.exists()]
    if not moved:
        return None
    target = private_dir(Path(location) / REPAIR_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{namespace}-unreadable-index")
    for f in moved:
        f.replace(target / f.name)
    return target
