"""Curating memory from the command line: what `memory list` shows (trust, pinned, banned), the filters of list and
search, `memory edit` (a human-trusted revision, the original kept), `memory advice`, `export -`, `--json` on the
memory commands, -q/-v and shell completion. Real Chroma on tmp dirs, the real CLI through typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.condenser.episode import Episode
from webcoach.condenser.rules import condense_rules
from webcoach.condenser.trajectory import Step, Trajectory
from webcoach.memory.advice_log import AdviceEntry
from webcoach.memory.store import EpisodeStore


def _episode(host: str, task: str, *, ok: bool = True) -> Episode:
    shop = f"https://{host}/shop"
    traj = Trajectory(
        source_kind="browser-use-history",
        steps=(
            Step(index=0, action="goto", url="about:blank", target=f"{shop}/index.html"),
            Step(index=1, action="click", url=f"{shop}/index.html", target="Catalog", error=None if ok else "no such element"),
            Step(index=2, action="done", url=f"{shop}/catalog.html", result="Foundation, $7.25"),
        ),
        claimed_success=ok,
        final_answer="Foundation, $7.25",
    )
    return condense_rules(traj, task)


def _run(*args: str, home: Path, code: int = 0) -> str:
    result = CliRunner().invoke(app, [*args, "--home", str(home)])
    assert result.exit_code == code, result.output
    return result.output


def _seed(home: Path) -> tuple[Episode, Episode, Episode]:
    books = _episode("books.example.com", "Find the cheapest science fiction book")
    failed = _episode("books.example.com", "Find the cheapest history book", ok=False)
    news = _episode("news.example.org", "Read today's headline")
    with EpisodeStore(home=home, embedder="hashing") as store:
        for ep in (books, failed, news):
            store.add(ep)
    return books, failed, news


def test_list_marks_trust_and_filters_and_leaves_banned_out_unless_asked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    books, failed, news = _seed(home)
    _run("memory", "pin", books.id, home=home)
    _run("memory", "ban", news.id, home=home)
    listed = _run("memory", "list", home=home)
    assert books.id in listed and failed.id in listed and news.id not in listed  # banned: left out by default
    (line,) = [x for x in listed.splitlines() if books.id in x]
    assert "pinned" in line
    (agent_line,) = [x for x in listed.splitlines() if failed.id in x]
    assert "agent" in agent_line
    with_banned = _run("memory", "list", "--banned", home=home)
    (banned_line,) = [x for x in with_banned.splitlines() if news.id in x]
    assert "BANNED" in banned_line
    assert [e["id"] for e in json.loads(_run("memory", "list", "--json", "--trust", "banned", home=home))] == [news.id]
    by_site = json.loads(_run("memory", "list", "--json", "--site", "https://www.books.example.com/x", home=home))
    assert {e["id"] for e in by_site} == {books.id, failed.id} and all("trust" in e for e in by_site)
    by_outcome = json.loads(_run("memory", "list", "--json", "--outcome", "failure", home=home))
    assert [e["id"] for e in by_outcome] == [failed.id]
    page = json.loads(_run("memory", "list", "--json", "--limit", "1", "--offset", "1", home=home))
    assert len(page) == 1
    assert "trust must be one of" in _run("memory", "list", "--trust", "nobody", home=home, code=1)

    found = json.loads(_run("memory", "search", "cheapest book", "--json", home=home))
    assert news.id not in {h["episode"]["id"] for h in found}
    found = json.loads(_run("memory", "search", "headline", "--json", "--banned", "--site", "news.example.org", home=home))
    assert [h["episode"]["id"] for h in found] == [news.id]


def test_edit_makes_a_human_trusted_revision_and_keeps_the_original(tmp_path: Path) -> None:
    home = tmp_path / "home"
    books, _, _ = _seed(home)
    shown = json.loads(_run("memory", "edit", books.id, "--lesson", "The catalog link is in the footer", "--json", home=home))
    assert shown["lessons"] == ["The catalog link is in the footer"] and shown["revision_of"] == books.id
    assert shown["trust"] == "human" and shown["id"] != books.id
    original = json.loads(_run("memory", "show", books.id, "--json", home=home))
    assert original["banned"] and original["lessons"] == books.lessons  # kept as it was, never shown to an agent
    assert "a person's revision of " + books.id in _run("memory", "show", shown["id"], home=home)
    assert "nothing changed" in _run(
        "memory", "edit", shown["id"], "--lesson", "The catalog link is in the footer", home=home, code=1
    )


def test_edit_without_options_opens_the_editor(tmp_path: Path, monkeypatch: object) -> None:
    import click

    home = tmp_path / "home"
    books, _, _ = _seed(home)
    seen: list[str] = []

    def fake_edit(text: str, **_: object) -> str:
        seen.append(text)
        return "# ignored\nA new summary.\n\nFirst lesson\nSecond lesson\n"

    monkeypatch.setattr(click, "edit", fake_edit)  # type: ignore[attr-defined]
    revision = json.loads(_run("memory", "edit", books.id, "--json", home=home))
    assert books.summary in seen[0]
    assert (revision["summary"], revision["lessons"]) == ("A new summary.", ["First lesson", "Second lesson"])


def test_advice_log_command_export_to_stdout_and_import(tmp_path: Path) -> None:
    home = tmp_path / "home"
    books, failed, _ = _seed(home)
    with EpisodeStore(home=home) as store:
        log = store.advice_log()
        log.record(AdviceEntry(run="run-1", channel="browser-use", site="example.com", trigger="start", episode_ids=[books.id]))
        log.record(AdviceEntry(run="run-1", channel="browser-use", site="example.com", trigger="loop", episode_ids=[books.id]))
        log.record(AdviceEntry(run="run-2", channel="mcp", site="example.com", trigger="start", episode_ids=[failed.id]))
        log.settle(run="run-1", outcome="success", run_episode="x")
        log.settle(run="run-2", outcome="failure")
    shown = _run("memory", "advice", home=home)
    assert "run-1" in shown and "success" in shown and books.id in shown
    data = json.loads(_run("memory", "advice", "--json", "--site", "https://shop.example.com/", home=home))
    assert len(data["advice"]) == 3
    # One run with two pieces of advice citing the same episode credits it once, as the store does.
    assert data["counts"] == {books.id: {"helped": 1, "hurt": 0}, failed.id: {"helped": 0, "hurt": 1}}
    assert json.loads(_run("memory", "advice", "--json", "--site", "other.test", home=home))["advice"] == []
    assert "cited in 2 interventions" in _run("memory", "show", books.id, home=home)

    exported = _run("memory", "export", "-", home=home)
    lines = [json.loads(x) for x in exported.splitlines()]
    assert sum("webcoach_advice" in x for x in lines) == 3 and sum("task" in x for x in lines) == 3
    dump = tmp_path / "all.jsonl"
    dump.write_text(exported)
    other = tmp_path / "other"
    imported = json.loads(_run("memory", "import", str(dump), "--json", home=other))
    assert imported == {"added": 3, "skipped": 0, "advice_entries": 3}
    with EpisodeStore(home=other) as store:
        ids = {e.id for e in store.list()}
        entries = store.advice_log().entries()
    assert all(set(e.episode_ids) <= ids for e in entries)  # cited ids follow the ids the import gave the episodes
    assert {e.imported_from for e in entries} == {"all.jsonl"}
    file_export = json.loads(_run("memory", "export", str(tmp_path / "again.jsonl"), "--json", home=other))
    assert file_export["exported"] == 3


def test_every_memory_command_speaks_json(tmp_path: Path) -> None:
    home = tmp_path / "home"
    books, failed, _ = _seed(home)
    assert json.loads(_run("memory", "pin", books.id, "--json", home=home))["pinned"] is True
    assert json.loads(_run("memory", "ban", failed.id, "--json", home=home))["trust"] == "banned"
    assert json.loads(_run("memory", "forget", failed.id, "--json", home=home)) == {"forgot": failed.id}
    assert json.loads(_run("memory", "stats", "--json", home=home))["count"] == 2
    assert json.loads(_run("memory", "reembed", "--to", "hashing", "--json", home=home))["reembedded"] == 2


def test_a_missing_namespace_names_the_one_that_exists(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with EpisodeStore(home=home, namespace="demo", embedder="hashing") as store:
        store.add(_episode("books.example.com", "Find a book"))
    assert "-n demo" in _run("memory", "list", home=home, code=1)


def test_quiet_verbose_and_completion() -> None:
    runner = CliRunner()
    help_text = runner.invoke(app, ["--help"]).output
    assert "--install-completion" in help_text and "--quiet" in help_text and "--verbose" in help_text
    assert runner.invoke(app, ["-q", "memory", "--help"]).exit_code == 0


def test_quiet_and_verbose_leave_the_logger_as_they_found_it() -> None:
    import logging

    logger = logging.getLogger("webcoach")
    before = (logger.level, list(logger.handlers))
    for flag in ("-q", "-v", "-vv"):
        assert CliRunner().invoke(app, [flag, "memory", "stats", "--home", "/nonexistent/x"]).exit_code == 1
        assert (logger.level, logger.handlers) == before
