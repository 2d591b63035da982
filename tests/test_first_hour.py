"""The first hour of a new user, one test per surprise seen when it was tried (issue 20): a LICENSE, types shipped,
commands that do not embed working without the embedder's model, MCP `record_run` with plain string steps, a route
after the agent went back, `watch` on the system Chromium without Playwright's own browser, progress off when piped."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.condenser.episode import Outcome
from webcoach.condenser.rules import condense_rules
from webcoach.condenser.trajectory import Step, Trajectory
from webcoach.memory.store import EpisodeStore

ROOT = Path(__file__).resolve().parents[1]
SHOP = "https://books.example.com/shop"


def test_the_license_is_a_file_and_types_ship() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "MIT"
    assert (ROOT / "py.typed").is_file()  # PEP 561: the wheel test checks webcoach/py.typed is in it
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["webcoach"]


class _NamedLikeMiniLM:
    name, dim = "all-MiniLM-L6-v2", 384

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1.0] + [0.0] * 383 for _ in texts]


def test_commands_that_do_not_embed_work_without_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))  # no Chroma model cache
    monkeypatch.delenv("WEBCOACH_EMBED_MODEL_DIR", raising=False)
    home = tmp_path / "home"
    ep = condense_rules(_went_back(), "Find the cheapest history book")
    with EpisodeStore(home=home, embedder=_NamedLikeMiniLM()) as store:  # as after `reembed --to minilm`
        store.add(ep)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*args, "--home", str(home)])
        return result.exit_code, result.output

    code, listed = run("memory", "list")
    assert code == 0 and ep.id in listed
    assert run("memory", "show", ep.id)[0] == 0
    assert run("memory", "stats")[0] == 0
    assert run("memory", "pin", ep.id)[0] == 0
    code, exported = run("memory", "export", "-")
    assert code == 0 and json.loads(exported.splitlines()[0])["id"] == ep.id
    code, said = run("memory", "search", "find a book")  # this one embeds: one line saying how to get the model
    assert code == 1 and "model files are missing" in said and "setup-embedder" in said
    assert run("memory", "forget", ep.id)[0] == 0


def _went_back() -> Trajectory:
    return Trajectory(
        source_kind="browser-use-history",
        steps=(
            Step(index=0, action="goto", url="about:blank", target=f"{SHOP}/index.html"),
            Step(index=1, action="click", url=f"{SHOP}/index.html", target="Deals"),
            Step(index=2, action="back", url=f"{SHOP}/deals.html"),
            Step(index=3, action="click", url=f"{SHOP}/index.html", target="Catalog"),
            Step(index=4, action="click", url=f"{SHOP}/catalog.html", target="History"),
            Step(index=5, action="done", url=f"{SHOP}/catalog-history.html", result="The Guns of August, $9.50"),
        ),
        claimed_success=True,
        final_answer="The Guns of August, $9.50",
    )


def test_a_route_does_not_repeat_a_page_after_going_back() -> None:
    ep = condense_rules(_went_back(), "Find the cheapest history book")
    assert ep.outcome is Outcome.SUCCESS
    (route,) = [x for x in ep.lessons if x.startswith("This route worked")]
    assert "index.html -> index.html" not in route
    assert "index.html -> books.example.com/shop/catalog.html -> books.example.com/shop/catalog-history.html" in route


async def test_mcp_record_run_with_plain_string_steps_stores_no_nonsense_lesson(tmp_path: Path) -> None:
    from webcoach.hooks.mcp_tools import ServerOptions, WebcoachMCP

    server = WebcoachMCP(ServerOptions(home=tmp_path / "home", embedder="hashing"))
    steps: list[object] = ["opened the shop", "read the results", "read the results", "read the results", "reported the price"]
    out = await server.record_run(
        "Find the cheapest history book",
        "success",
        None,
        steps,
        "The Guns of August",
        f"{SHOP}/index.html",
        "s1",  # type: ignore[arg-type]
    )
    text = " ".join([*out.lessons, out.summary])
    assert "repeated" not in text and "on ?" not in text, text
    assert out.outcome == "success"


async def test_watch_without_a_context_drives_the_system_chromium(site: str, tmp_path: Path) -> None:
    from webcoach.coach.coach import Coach
    from webcoach.hooks.playwright import watch

    with EpisodeStore(tmp_path / "store", embedder="hashing") as store:
        async with watch(Coach(store), task="Find the cheapest history book on Acme Books") as run:
            assert run.context is not None
            page = await run.context.new_page()
            await page.goto(f"{site}/shop/index.html")
            await page.click("text=Catalog")
            run.outcome = "success"
        assert run.episode is not None and store.get(run.episode.id).outcome is Outcome.SUCCESS


def test_progress_is_off_when_piped_or_quiet() -> None:
    from webcoach import cli

    assert cli.progress_bar().disable and cli.spinner().disable  # pytest's stderr is no terminal
    cli.QUIET["on"] = True
    try:
        assert cli.progress_bar().disable
    finally:
        cli.QUIET["on"] = False
