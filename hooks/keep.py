"""The one place a finished run is kept, whichever way it came in: a coached browser-use run
(`CoachingSession.on_done`), a watched Playwright script (`watch`) or a run an MCP client reports (`record_run`).

Each way in condenses its own log and labels the outcome (its caller knows who said so); from then on the steps are the
same and live here: a JSON copy first when asked (a run killed before the store write can be stored again from it),
then the store, then the episodes whose advice the run was given are credited (success) or blamed (failure).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from webcoach.condenser.episode import Episode, Outcome
from webcoach.memory.advice_log import AdviceEntry
from webcoach.memory.store import EpisodeStore

if TYPE_CHECKING:
    from webcoach.coach.advice import Advice

log = logging.getLogger("webcoach")


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
    run: str | None = None,
    advice_ids: Iterable[str] = (),
) -> Kept:
    """Store `episode` (and `parts`: the same run's episodes for the other sites it worked on) and credit or blame
    the episodes in `cited` with its outcome (an unknown outcome moves nothing, and a run never credits itself). The
    advice log's entries of `run` (or `advice_ids`) get the run's outcome, so the counts can be audited from it. Store
    errors propagate: each caller decides how loudly a lost run is reported."""
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
    if run is not None or advice_ids:
        await asyncio.to_thread(
            store.advice_log().settle,
            outcome=episode.outcome.value,
            run=run,
            ids=list(advice_ids),
            run_episode=episode.id if store_run else None,
        )
    return Kept(stored=stored, credited=credited)


async def log_advice(
    store: EpisodeStore, advice: Advice, *, run: str, channel: str, task: str, entry_id: str | None = None
) -> str | None:
    """Record one intervention in the advice log; returns its entry id. Fails open: a log that cannot be written
    leaves the advice given (the agent has it already) and says so."""
    try:
        entry = AdviceEntry(
            **({"id": entry_id} if entry_id else {}),
            run=run,
            channel=channel,
            task=task[:300],
            site=advice.site,
            trigger=advice.trigger,
            step=advice.step,
            episode_ids=list(advice.episode_ids),
            text=advice.text[:500],
            why=advice.why[:300],
        )
        await asyncio.to_thread(store.advice_log().record, entry)
        return entry.id
    except Exception as exc:
        log.warning("webcoach: the advice log could not be written (%s)", str(exc).splitlines()[0][:200] if str(exc) else exc)
        return None
