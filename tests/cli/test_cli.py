"""The CLI, invoked for real (CliRunner), on real logs: a recorded Playwright trace and browser-use histories."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner
from webcoach.cli import app

DATA = Path(__file__).parents[1] / "data"
HISTORIES = sorted(DATA.glob("browser_use_*.json"))
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_help_lists_the_commands() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    for command in ("ingest", "memory", "advise", "run", "demo"):
        assert command in out
    code, out, _ = invoke("memory", "--help")
    for command in ("list", "show", "search", "stats", "forget", "export", "import"):
        assert command in out


def test_ingest_then_every_memory_command(shop_trace: Path, tmp_path: Path) -> None:
    code, out, err = invoke(
        "ingest", str(shop_trace), *map(str, HISTORIES), "--task", "Find the cheapest science fiction book on Acme Books"
    )
    assert code == 0, err
    assert out.count("added") >= len(HISTORIES) + 1 and "0 failed" in out

    code, out, _ = invoke("ingest", str(shop_trace), "--task", "Find the cheapest science fiction book on Acme Books")
    assert code == 0 and "duplicate" in out and "0 added, 1 already stored" in out

    code, out, _ = invoke("memory", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and len(listed) == len(HISTORIES) + 1
    some_id = listed[0]["id"]

    code, out, _ = invoke("memory", "show", some_id)
    assert code == 0 and some_id in out and "outcome:" in out

    code, out, _ = invoke("memory", "search", "cheapest sci-fi book", "--url", "http://127.0.0.1:8765/shop/", "--json")
    hits = json.loads(out)
    assert code == 0 and hits and hits[0]["score"] >= hits[-1]["score"]

    code, out, _ = invoke("memory", "stats", "--json")
    stats = json.loads(out)
    assert code == 0 and stats["count"] == len(HISTORIES) + 1

    export = tmp_path / "episodes.jsonl"
    code, out, _ = invoke("memory", "export", str(export))
    assert code == 0 and len(export.read_text().splitlines()) == len(HISTORIES) + 1

    code, out, _ = invoke("memory", "forget", some_id)
    assert code == 0
    code, _, err = invoke("memory", "show", some_id)
    assert code == 1 and len(err.strip().splitlines()) == 1

    code, out, _ = invoke("memory", "import", str(export))
    assert code == 0 and "imported 1 episodes" in out
    code, out, _ = invoke("memory", "stats", "--json")
    assert json.loads(out)["count"] == len(HISTORIES) + 1


def test_bad_inputs_fail_in_one_line_each_and_keep_the_good_ones(tmp_path: Path) -> None:
    broken_zip = tmp_path / "truncated.zip"
    good = HISTORIES[0].read_bytes()
    with zipfile.ZipFile(tmp_path / "whole.zip", "w") as zf:
        zf.writestr("trace.trace", "{}\n" * 50)
    broken_zip.write_bytes((tmp_path / "whole.zip").read_bytes()[:40])
    malformed = tmp_path / "history.json"
    malformed.write_bytes(good[: len(good) // 2])
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"history": []}))
    other_zip = tmp_path / "photos.zip"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("cat.txt", "meow")

    code, out, err = invoke(
        "ingest",
        str(HISTORIES[0]),
        str(broken_zip),
        str(malformed),
        str(empty),
        str(other_zip),
        str(tmp_path / "missing.zip"),
        "--task",
        "t",
    )
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 5, err
    assert "1 added" in out and "5 failed" in out
    code, out, _ = invoke("memory", "stats", "--json")
    assert json.loads(out)["count"] == 1  # the good file is stored, nothing else


def test_ingest_without_a_task_says_how_to_fix(shop_trace: Path) -> None:
    code, _, err = invoke("ingest", str(shop_trace))
    assert code == 1 and "--task" in err


def test_advise_explains_its_sources() -> None:
    code, _, _ = invoke("ingest", *map(str, HISTORIES), "--task", "Find the cheapest science fiction book on Acme Books")
    assert code == 0
    code, out, _ = invoke(
        "advise", "Find the cheapest history book on Acme Books", "--url", "http://127.0.0.1:8765/shop/index.html", "--json"
    )
    data = json.loads(out)
    assert code == 0 and data["advice"] is not None
    assert set(data["advice"]["episode_ids"]) <= {h["episode"]["id"] for h in data["hits"]}
    assert data["config"]["weights"]["half_life_days"] > 0
    assert not any(h["likely_site"] for h in data["hits"])  # with a URL the URL's site decides: no vote
    code, out, _ = invoke("advise", "Find the cheapest history book on Acme Books", "--json")
    hits = json.loads(out)["hits"]  # no URL: the nearest (all of the shop) vote for its site
    assert hits and all(h["likely_site"] and not h["same_site"] for h in hits)
    code, out, _ = invoke("advise", "Find the cheapest history book on Acme Books", "--explain")
    assert code == 0 and "score =" in out and "similarity" in out and " vote " in out


def test_advise_on_empty_memory_is_silent() -> None:
    code, out, _ = invoke("advise", "Book a table for two")
    assert code == 0 and "No advice" in out


def test_unreachable_server_is_one_line() -> None:
    code, _, err = invoke("memory", "list", "--chroma-url", "http://127.0.0.1:9")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "127.0.0.1:9" in err


@pytest.mark.parametrize("bad", ["--namespace=../etc", "--chroma-url=ftp://x"])
def test_bad_settings_are_one_line(bad: str) -> None:
    code, _, err = invoke("memory", "list", bad)
    assert code == 1 and len(err.strip().splitlines()) == 1


def test_ingest_json_lists_every_site_episode_of_a_two_site_run(tmp_path: Path) -> None:
    # A browser-use history (0.1.8 shape: one action and one result per step) that compared two shops.
    def item(url: str | None, action: dict[str, object], result: dict[str, object]) -> dict[str, object]:
        return {"model_output": {"action": action}, "result": result, "state": {"url": url or "about:blank"}}

    history = {
        "history": [
            item(None, {"go_to_url": {"url": "https://shop-a.test/p/1"}}, {"is_done": False}),
            item(
                "https://shop-a.test/p/1", {"extract_content": {"goal": "price"}}, {"is_done": False, "extracted_content": "$12"}
            ),
            item("https://shop-a.test/p/1", {"go_to_url": {"url": "https://shop-b.test/i/9"}}, {"is_done": False}),
            item(
                "https://shop-b.test/i/9",
                {"done": {"text": "B is cheaper: $10"}},
                {"is_done": True, "extracted_content": "B is cheaper: $10"},
            ),
        ]
    }
    path = tmp_path / "history.json"
    path.write_text(json.dumps(history))
    code, out, _ = invoke("ingest", str(path), "--task", "Which shop sells the lamp for less?", "--json")
    assert code == 0
    (result,) = json.loads(out)
    assert result["id"] == result["ids"][0] and len(result["ids"]) == 2 and result["sites"] == ["shop-b.test", "shop-a.test"]
    for episode_id, site in zip(result["ids"], result["sites"], strict=True):
        code, out, _ = invoke("memory", "show", episode_id, "--json")
        shown = json.loads(out)
        assert code == 0 and shown["domain"] == site and shown["outcome"] == "success"
