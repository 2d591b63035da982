"""How an episode is laid out in a stored record, and back: plain values in, plain values out (no chromadb here).

Ranking and filtering read five fields (`site`, `created_at`, `helped`, `hurt`, `outcome`); everything else is the
episode body: its JSON compressed with raw deflate and a preset dictionary of the episode's keys (about a third of the
JSON). Chroma's embedded store indexes every string metadata value and every document (full text, trigram) and ignores
a Schema that turns either off, so the body never goes into Chroma as plain text.

Layout 3 (embedded stores): Chroma keeps the vector and `{"site": ...}` only (for a site-filtered query); the fields and
the body (raw bytes) live in a SQLite file beside it (records_db.py), read for the few records a search returns.
On disk per synthetic episode (bench/bench_search.py): 2.63 KB at 10k, 2.44 KB at 100k, of which HNSW's ~1.7 KB is the
floor (layout 2: 3.63 and 3.26 KB).

Layout 2 (Chroma servers, where processes share no disk): the five fields and the body, base85 text, in Chroma's
metadata. Layout 1 (before) held the whole episode JSON in an `episode` metadata value and the embedding text as a
document. Older records are still read; the store moves them to its layout when it opens their collection."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from pydantic import ValidationError
from webcoach.condenser.episode import SCHEMA_VERSION, Episode
from webcoach.errors import StoreError
from webcoach.memory.migrations import upgrade
from webcoach.memory.ranking import RankFields, site_key
from webcoach.memory.transfer import why

SERVER_LAYOUT = 2
EMBEDDED_LAYOUT = 3
BODY_KEY = "body"
RANK_KEYS = ("site", "outcome", "created_at", "helped", "hurt")  # beside the body in layouts 2 and 3

# Never change these bytes: every stored body was compressed against them. A new dictionary needs a new prefix.
_ZDICT = (
    b'{"task":"","start_url":"https://www.","domain":"","outcome":"success","failure","unknown","outcome_by":"agent",'
    b'"judge","human","outcome_reason":"","summary":"","key_steps":["go to ","click ","type "],"failure_modes":[{"kind":'
    b'"error","loop","dead_end","timeout","http_error","console_error","step_limit","gave_up","detail":"","step":,"url":'
    b'"http"}],"what_worked":[],"lessons":[],"final_answer":"","step_count":,"duration_s":,"created_at":"2026-","2025-'
    b'","source_kind":"browser_use_history","playwright_trace","har","content_hash":"","condenser":"rules","llm:'
)
_PREFIX = "z1:"
_UNSTORED = {"id", "helped", "hurt"}  # the record id and metadata fields hold these


def deflate(text: str) -> bytes:
    """Raw deflate against the preset dictionary: a layout-3 body."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _ZDICT)
    return packer.compress(text.encode()) + packer.flush()


def _inflate(raw: bytes) -> str:
    unpacker = zlib.decompressobj(-15, _ZDICT)
    return (unpacker.decompress(raw) + unpacker.flush()).decode()


def unarmor(body: str) -> bytes:
    """The raw deflate bytes of a layout-2 body (base85 text); ValueError when it is not one."""
    if not body.startswith(_PREFIX):
        raise ValueError(f"unknown body encoding {body[:3]!r}")
    return base64.b85decode(body[len(_PREFIX) :])


def _body_text(body: object) -> str:
    return _inflate(body) if isinstance(body, bytes) else _inflate(unarmor(str(body)))


def pack(episode: Episode) -> bytes:
    """The body of one record: the episode less its id and counters (the record holds those), deflated."""
    body = episode.model_dump(mode="json", exclude=_UNSTORED, exclude_defaults=True)
    body["schema_version"] = SCHEMA_VERSION  # always written: a later schema must know what it is upgrading
    return deflate(json.dumps(body, separators=(",", ":"), ensure_ascii=False))


def fields(episode: Episode) -> dict[str, str | int | float]:
    """What ranking and filtering read of one record (the RANK_KEYS)."""
    return {
        "site": site_key(episode.domain) or "",
        "outcome": episode.outcome.value,
        "created_at": episode.created_at.timestamp(),
        "helped": episode.helped,
        "hurt": episode.hurt,
    }


def encode(episode: Episode) -> dict[str, str | int | float]:
    """The Chroma metadata of one layout-2 record."""
    return {BODY_KEY: _PREFIX + base64.b85encode(pack(episode)).decode("ascii"), **fields(episode)}


def rank_fields(meta: dict[str, Any]) -> RankFields:
    site = meta.get("site")
    if site is None and "domain" in meta:  # layout 1
        site = site_key(str(meta["domain"]))
    return RankFields(
        site=str(site) if site else None,
        created_at=float(meta.get("created_at", 0.0)),
        # Never below 0: usefulness divides by helped + hurt + 2 (a record with helped=-1, hurt=-1 made it 0/0).
        helped=max(0, int(meta.get("helped", 0))),
        hurt=max(0, int(meta.get("hurt", 0))),
    )


def has_body(meta: dict[str, Any]) -> bool:
    """Whether these fields are enough to decode the episode (a layout-3 search candidate's are not)."""
    return BODY_KEY in meta or "episode" in meta


def decode(record_id: str, meta: dict[str, Any], *, what: str) -> Episode:
    """The episode of one record (any layout); unreadable records raise a one-line StoreError."""
    try:
        if BODY_KEY in meta:
            data = json.loads(_body_text(meta[BODY_KEY]))
            data["id"] = record_id
        else:
            data = json.loads(str(meta["episode"]))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        data = upgrade(data, what=what)
        # The counters are updated in place by record_outcome: the metadata fields are the truth.
        data["helped"], data["hurt"] = int(meta.get("helped", 0)), int(meta.get("hurt", 0))
        return Episode.model_validate(data)
    except StoreError:
        raise
    except (KeyError, ValueError, ValidationError, zlib.error) as exc:
        raise StoreError(f"{what} is unreadable ({why(exc)}): remove it with forget({record_id!r})") from exc
