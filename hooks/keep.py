"""The one place a finished run is kept, whichever way it came in: a coached browser-use run
(`CoachingSession.on_done`), a watched Playwright script (`watch`) or a run an MCP client reports (`record_run`).

Each way in condenses its own log and labels the outcome (its caller knows who said so); from then on the steps are the
same and live here: a JSON copy first when asked (a run killed before the store write can be stored again from it),
then the store, then the episodes whose advice the run was given are credited (success) or blamed (failure).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from webcoach.condenser.episode import Episode, Outcome
from webcoach.memory.store import EpisodeStore


@dataclass(frozen=True, kw_only=True)
class Kept:
    stored: bool  # False: not asked to store, or the same run was stored before
    credited: int  # episodes whose usefulness counts moved


async def keep_run(
    store: EpisodeStore,
    episode: Episode,
    *,
    cited: Iterable[str] = (),
    parts: Sequence[Episode] = (),
    store_run: bool = True,
    credit: bool = True,
    save_to: Path | None = None,
) -> Kept:
    """Store `episode` (and `parts`: the same run's episodes for the other sites it worked on) and credit or blame the episodes in `cited` with its outcome (an unknown outcome moves nothing,
    and a run never credits itself). Store errors propagate: each caller decides how loudly a lost run is reported."""
    stored = False
    if store_run:
        if save_to is not None:
            save_to.parent.mkdir(parents=True, exist_ok=True)
            save_to.write_text(json.dumps(episode.model_dump(mode="json")), encoding="utf-8")
        # add_batch says which ids this call really stored: one existence query, and right beside concurrent writers
        stored = episode.id in await asyncio.to_thread(store.add_batch, [episode, *parts])
    others = sorted(set(cited) - {episode.id, *(p.id for p in parts)})
    credited = 0
    if credit and others and episode.outcome is not Outcome.UNKNOWN:
        credited = await asyncio.to_thread(store.record_outcome, others, episode.outcome is Outcome.SUCCESS)
    return Kept(stored=stored, credited=credited)
