"""Trust from the command line: pin/ban, provenance in `memory show` and `advise --explain`, import hardening, and
stored text that cannot drive the terminal (escape sequences) or break rich markup."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.condenser.episode import Episode
from webcoach.condenser.rules import condense_rules
from webcoach.condenser.trajectory import Step, Trajectory
from webcoach.memory.store import EpisodeStore

SHOP = "https://books.example.com/shop"
TASK = "Find the cheapest science fiction book on Acme Books"
ESC = "\x1b]0;pwned\x07\x1b[2J"  # set the window title, clear the screen


def _episode(answer: str = "Foundation, $7.25", task: str = TASK) -> Episode:
    traj = Trajectory(
        source_kind="browser-use-history",
        steps=(
            Step(index=0, action="goto", url="about:blank", target=f"{SHOP}/index.html"),
            Step(index=1, action="click", url=f"{SHOP}/index.html", target="Catalog"),
            Step(index=2, action="done", url=f"{SHOP}/catalog-scifi.html", result=answer),
        ),
        claimed_success=True,
        final_answer=answer,
    )
    return condense_rules(traj, task)


def _invoke(*args: str, home: Path) -> str:
    result = CliRunner().invoke(app, [*args, "--home", str(home)])
    assert result.exit_code == 0, result.output
    return result.output


def test_pin_and_ban_change_trust_and_what_agents_see(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ep = _episode()
    with EpisodeStore(home=home, embedder="hashing") as store:
        store.add(ep)
    assert "trust: agent" in _invoke("memory", "show", ep.id, home=home)
    assert "pinned" in _invoke("memory", "pin", ep.id, home=home)
    assert "trust: approved" in _invoke("memory", "show", ep.id, home=home)
    explain = _invoke("advise", TASK, "--url", f"{SHOP}/", "--explain", home=home)
    assert "approved" in explain and "catalog-scifi.html" in explain
    assert "banned" in _invoke("memory", "ban", ep.id, home=home)
    data = json.loads(_invoke("advise", TASK, "--url", f"{SHOP}/", "--json", home=home))
    # Kept, but it leaves memory only through `memory show ID` (marked) and export: not in advice, hits or listings.
    assert data["advice"] is None and data["hits"] == []
    assert ep.id not in _invoke("memory", "list", home=home) and ep.id not in _invoke("memory", "search", TASK, home=home)
    assert "BANNED" in _invoke("memory", "show", ep.id, home=home)
    _invoke("memory", "ban", ep.id, "--undo", home=home)
    data = json.loads(_invoke("advise", TASK, "--url", f"{SHOP}/", "--json", home=home))
    assert data["advice"] is not None and data["advice"]["rendered"].startswith("[webcoach notes from past runs on example.com]")


def test_import_resets_counts_unless_trusted_and_marks_provenance(tmp_path: Path) -> None:
    home = tmp_path / "home"
    source = tmp_path / "team.jsonl"
    source.write_text(_episode().model_copy(update={"helped": 40, "hurt": 2}).model_dump_json() + "\n")
    assert "imported 1" in _invoke("memory", "import", str(source), home=home)
    (listed,) = json.loads(_invoke("memory", "list", "--json", home=home))
    assert (listed["helped"], listed["imported_from"]) == (0, "team.jsonl")
    shown = _invoke("memory", "show", listed["id"], home=home)
    assert "trust: imported, imported from team.jsonl" in shown
    other = tmp_path / "other"
    _invoke("memory", "import", str(source), "--trust-counts", home=other)
    (kept,) = json.loads(_invoke("memory", "list", "--json", home=other))
    assert (kept["helped"], kept["hurt"]) == (40, 2)


def test_stored_text_cannot_drive_the_terminal_or_break_markup(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ep = _episode(answer=f"Foundation {ESC}[/bold] [red]x", task=f"{TASK} [/bold]{ESC}")
    with EpisodeStore(home=home, embedder="hashing") as store:
        store.add(ep)
    outputs = [
        _invoke("memory", "show", ep.id, home=home),
        _invoke("memory", "list", home=home),
        _invoke("memory", "search", TASK, home=home),
        _invoke("advise", TASK, "--url", f"{SHOP}/", "--explain", home=home),
    ]
    for output in outputs:
        assert "\x1b" not in output and "\x07" not in output
    assert "[/bold]" in outputs[0]  # shown literally, not read as markup
    assert "Foundation" in outputs[0]  # the answer: advice offers it only to the same task (this one's differs)
