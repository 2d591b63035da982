"""Impossible usefulness counts: refused on the model and at import; a bad record already stored never silences the
coach (search skips it) and is a one-line error where it is asked for by id."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.coach.coach import Coach
from webcoach.condenser.condense import condense
from webcoach.condenser.episode import Episode
from webcoach.memory.records_db import FILE_NAME
from webcoach.memory.store import EpisodeStore

DATA = Path(__file__).parents[1] / "data"
HISTORIES = sorted(DATA.glob("browser_use_*.json"))
TASK = "Find the cheapest science fiction book on Acme Books"
SHOP = "http://127.0.0.1:8765/shop/index.html"  # where the recorded histories ran: advice is scoped to a site


@pytest.mark.parametrize("field", ["helped", "hurt", "step_count", "duration_s"])
def test_negative_counts_are_refused(field: str) -> None:
    episode = condense(HISTORIES[0], task=TASK)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Episode.model_validate({**episode.model_dump(), field: -1})


def test_an_export_with_impossible_counts_is_not_imported(tmp_path: Path) -> None:
    episode = condense(HISTORIES[0], task=TASK)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**episode.model_dump(mode="json"), "helped": -1, "hurt": -1}) + "\n")
    result = CliRunner().invoke(app, ["memory", "import", str(bad)])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1
    assert "helped: Input should be greater than or equal to 0" in result.stderr and "nothing was imported" in result.stderr


def test_one_bad_record_never_silences_the_coach() -> None:
    with EpisodeStore(embedder="hashing") as store:
        episodes = [condense(h, task=TASK) for h in HISTORIES]
        store.add_many(episodes)
        assert asyncio.run(Coach(store).advise(TASK, SHOP)) is not None
        # A record written by an older or foreign writer with impossible counts (0/0 usefulness before the fix).
        with sqlite3.connect(Path(store.location) / FILE_NAME) as db:  # the embedded store's record file
            db.execute('UPDATE "episodes-default" SET helped = -1, hurt = -1 WHERE id = ?', (episodes[0].id,))
        db.close()
        hits = store.search(TASK, k=5)
        assert {h.episode.id for h in hits} == {e.id for e in episodes[1:]}
        assert asyncio.run(Coach(store).advise(TASK, SHOP)) is not None
    result = CliRunner().invoke(app, ["memory", "show", episodes[0].id])
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1 and "forget" in result.stderr
    result = CliRunner().invoke(app, ["memory", "search", TASK])
    assert result.exit_code == 0 and episodes[1].id in result.stdout
