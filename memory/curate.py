"""What a person does to memory besides pin and ban: find episodes by what they are (site, outcome, trust, date, text),
a page at a time, and correct one (`revise`). The CLI's `memory list/search/edit` and the UI both call these.

Filters need each episode decoded (the record fields that could answer some of them are store internals): a page
reads newest first in batches until it is full, so the first pages of a 100k store come back fast; a rare match would
cost a scan of everything, so the UI gives each page a budget and a cursor to go on from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from webcoach.condenser.episode import TRUST_ORDER, Episode, Outcome
from webcoach.condenser.guard import clean
from webcoach.condenser.site import site_of
from webcoach.errors import InputError

if TYPE_CHECKING:
    from webcoach.memory.ranking import Hit
    from webcoach.memory.store import EpisodeStore

_BATCH = 500
MAX_LESSONS = 20
MAX_LESSON_CHARS = 500


@dataclass(frozen=True, kw_only=True)
class EpisodeFilter:
    """Which episodes to show. Banned episodes are left out unless `banned` (or `trust='banned'`) asks for them."""

    site: str | None = None  # a site (registrable domain) or any URL/host on it
    outcome: str | None = None
    trust: str | None = None
    banned: bool = False
    text: str | None = None  # in the task, summary or lessons (case-insensitive)
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.outcome is not None and self.outcome not in {o.value for o in Outcome}:
            raise InputError(f"outcome must be success, failure or unknown, not {self.outcome!r}")
        if self.trust is not None and self.trust not in TRUST_ORDER:
            raise InputError(f"trust must be one of {', '.join(TRUST_ORDER)}, not {self.trust!r}")
        if self.site is not None:
            wanted = self.site.strip().lower()
            host = wanted if "://" in wanted else f"https://{wanted}/"
            object.__setattr__(self, "site", site_of(host) or wanted)

    def matches(self, ep: Episode) -> bool:
        if ep.banned and not (self.banned or self.trust == "banned"):
            return False
        if self.site is not None and ep.domain != self.site:
            return False
        if self.outcome is not None and ep.outcome.value != self.outcome:
            return False
        if self.trust is not None and ep.trust != self.trust:
            return False
        created = _aware(ep.created_at)
        if self.since is not None and created < _aware(self.since):
            return False
        if self.until is not None and created > _aware(self.until):
            return False
        if self.text:
            needle = self.text.casefold()
            hay = "\n".join([ep.task, ep.summary, *ep.lessons, ep.domain or ""]).casefold()
            if needle not in hay:
                return False
        return True


@dataclass(frozen=True, kw_only=True)
class Page:
    episodes: list[Episode]
    cursor: int  # where this page started, in newest-first order of every episode
    next_cursor: int | None  # where the next page starts (None: this was the last)
    scanned: int  # episodes read for this page: a filtered page stops at its budget, matches or not


def browse(store: EpisodeStore, where: EpisodeFilter, *, limit: int = 50, cursor: int = 0, budget: int | None = None) -> Page:
    """Up to `limit` episodes matching `where`, newest first, reading from position `cursor` of the namespace's
    newest-first order. `budget` caps how many episodes one page may read (a UI page must stay fast at 100k when a
    filter matches rarely): the page then ends early with `next_cursor` where to go on."""
    matched: list[Episode] = []
    position = cursor
    scanned = 0
    while budget is None or scanned < budget:
        batch = store.list(limit=_BATCH if budget is None else min(_BATCH, budget - scanned), offset=position)
        if not batch:
            return Page(episodes=matched, cursor=cursor, next_cursor=None, scanned=scanned)
        for n, ep in enumerate(batch):
            if where.matches(ep):
                matched.append(ep)
                if len(matched) == limit:
                    return Page(episodes=matched, cursor=cursor, next_cursor=position + n + 1, scanned=scanned + n + 1)
        position += len(batch)
        scanned += len(batch)
    return Page(episodes=matched, cursor=cursor, next_cursor=position, scanned=scanned)


def matching(store: EpisodeStore, where: EpisodeFilter, *, limit: int, offset: int = 0) -> tuple[list[Episode], bool]:
    """The `limit` matching episodes after the first `offset` matches (for the CLI: every episode is read if need be);
    and whether more follow."""
    page = browse(store, where, limit=offset + limit + 1)
    found = page.episodes[offset:]
    return found[:limit], len(found) > limit


def filter_hits(hits: Sequence[Hit], where: EpisodeFilter) -> list[Hit]:
    return [h for h in hits if where.matches(h.episode)]


def revise(store: EpisodeStore, episode_id: str, *, lessons: Sequence[str] | None = None, summary: str | None = None) -> Episode:
    """A person's correction of an episode: a new episode, trusted as human-written (`revision_of` names the original),
    holding the edited lessons and summary; the original is kept (for `show` and the record) but banned, so no agent
    gets both. Returns the revision."""
    original = store.get(episode_id)
    new_lessons = [clean(x).strip()[:MAX_LESSON_CHARS] for x in (lessons if lessons is not None else original.lessons)]
    new_lessons = [x for x in new_lessons if x][:MAX_LESSONS]
    new_summary = clean(summary).strip() if summary is not None else original.summary
    if not new_summary:
        raise InputError("the summary cannot be empty")
    if new_lessons == list(original.lessons) and new_summary == original.summary:
        raise InputError(f"nothing changed in episode {episode_id}: edit its lessons or summary")
    digest = hashlib.sha256(
        json.dumps([original.content_hash, new_summary, new_lessons], ensure_ascii=False).encode()
    ).hexdigest()
    revision = original.model_copy(
        update={
            "id": digest[:16],
            "content_hash": digest,
            "lessons": new_lessons,
            "summary": new_summary,
            "revision_of": original.id,
            "pinned": False,
            "banned": False,
            "helped": 0,
            "hurt": 0,
            "imported_from": None,
            "imported_at": None,
        }
    )
    revision = Episode.model_validate(revision.model_dump())  # validated like any stored episode
    store.add(revision)
    store.review(original.id, banned=True)
    return revision


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
