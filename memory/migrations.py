"""Stored episode schema versions and the steps that upgrade an old record, one version at a time.

Each step is a named function `mNNN_what(data) -> data` that takes an episode dict at version NNN-1 and returns it at
version NNN (after simonw/llm's migrations). The store applies them whenever it reads a record or an export line, so
old stores keep working without a rewrite; a record from a NEWER schema is refused with an "upgrade webcoach" error,
since guessing at fields we do not know would lose them.

Version 0 is the pre-release shape: `"success": true|false|null` instead of `outcome`/`outcome_by`, `"steps"` instead of
`key_steps`, no `domain`, no `helped`/`hurt` counters, and sometimes no `schema_version` key at all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from webcoach.condenser.episode import SCHEMA_VERSION, domain_of
from webcoach.errors import StoreError

Migration = Callable[[dict[str, Any]], dict[str, Any]]

MIGRATIONS: list[Migration] = []  # MIGRATIONS[n] upgrades a record from version n to n + 1


def migration(fn: Migration) -> Migration:
    """Register the next step; steps must be defined in version order and named mNNN_ with NNN = the version they produce."""
    expected = f"m{len(MIGRATIONS) + 1:03d}_"
    if not fn.__name__.startswith(expected):
        raise RuntimeError(f"migration {fn.__name__} is out of order: the next one must be named {expected}...")
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_outcome_from_success(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k not in ("success", "steps")}
    success = data.get("success")
    out["outcome"] = "unknown" if success is None else ("success" if success else "failure")
    # Pre-release runs only had the agent's own word on success.
    out["outcome_by"] = "none" if success is None else "agent"
    out["key_steps"] = list(data.get("steps") or [])
    if not out.get("domain"):
        out["domain"] = domain_of(out.get("start_url"))
    out.setdefault("helped", 0)
    out.setdefault("hurt", 0)
    return out


@migration
def m002_site_and_provenance(data: dict[str, Any]) -> dict[str, Any]:
    # Version 1 kept the host minus "www." as `domain`; version 2 keeps the registrable domain (the public-suffix
    # list's view of a site) and records provenance. Old records were condensed here, not imported, and unreviewed.
    out = dict(data)
    out["domain"] = domain_of(out.get("start_url")) if out.get("start_url") else out.get("domain")
    out.setdefault("imported_from", None)
    out.setdefault("imported_at", None)
    out.setdefault("pinned", False)
    out.setdefault("banned", False)
    return out


@migration
def m003_vouched_by(data: dict[str, Any]) -> dict[str, Any]:
    # Version 3 grants trust by who wrote the verdict (`vouched_by`), never by `outcome_by`, which a log can set. Before
    # it, "human" was written only by webcoach's own paths (an outcome passed to ingest or the API), so it is kept; a
    # "judge" may have been read from a log's own verdict, so it vouches for nothing now.
    out = dict(data)
    if "vouched_by" not in out:
        out["vouched_by"] = "human:before-v3" if out.get("outcome_by") == "human" and not out.get("imported_from") else None
    return out


def version_of(data: dict[str, Any]) -> int:
    version = data.get("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ValueError(f"schema_version must be a non-negative integer, got {version!r}")
    return version


def check_not_newer(version: int, what: str) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{what} uses episode schema version {version}, newer than this webcoach understands ({SCHEMA_VERSION}): "
            "upgrade webcoach (pip install -U webcoach)"
        )


def upgrade(data: dict[str, Any], *, what: str = "this episode") -> dict[str, Any]:
    """An episode dict at any known version -> the same episode at SCHEMA_VERSION (a new dict; the input is untouched)."""
    version = version_of(data)
    check_not_newer(version, what)
    for step in MIGRATIONS[version:SCHEMA_VERSION]:
        data = step(data)
    return {**data, "schema_version": SCHEMA_VERSION}


if len(MIGRATIONS) != SCHEMA_VERSION:  # pragma: no cover - caught by the first test run after a schema bump
    raise RuntimeError(f"episode SCHEMA_VERSION is {SCHEMA_VERSION} but {len(MIGRATIONS)} migrations are registered")
