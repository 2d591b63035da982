"""Playwright MCP's trace output (a live trace folder) and steps an agent reports itself.

tests/data/playwright_mcp_output/ is what `@playwright/mcp@0.0.68 --save-trace --output-dir DIR` wrote (its traces/
folder, .trace and .network; screenshots, stacks and snapshots left out) for a session on the bundled shop that typed
"Hunter2-Secret!" into the password field and "jane.doe@example.org" into the e-mail field (regenerate it with
drive_shop() in tests/hooks/test_mcp_playwright.py)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.condenser.condense import condense
from webcoach.condenser.playwright_mcp import expand_folders, trace_files
from webcoach.condenser.reported_steps import MAX_CHARS, action_name, reported_trajectory
from webcoach.condenser.sources import load_trajectory
from webcoach.errors import InputError

OUTPUT = Path(__file__).parents[1] / "data" / "playwright_mcp_output"
SECRETS = ("Hunter2-Secret!", "jane.doe@example.org", "Hunter2-Secret%21", "jane.doe%40example.org")


def strings(value: object) -> str:
    return json.dumps(value, default=lambda o: getattr(o, "__dict__", str(o)))


def test_the_output_folder_the_traces_folder_and_the_trace_file_read_the_same() -> None:
    trace = next((OUTPUT / "traces").glob("*.trace"))
    runs = [load_trajectory(p) for p in (OUTPUT, OUTPUT / "traces", trace)]
    assert len({r.fingerprint() for r in runs}) == 1
    steps = runs[0].steps
    assert [s.action for s in steps] == ["goto", "fill", "fill", "click", "goto", "click"]
    # Elements are named by what Playwright MCP described, not by the session's aria refs (e5, e6 ...).
    assert [s.target for s in steps[1:4]] == ["Email", "Password", "Sign in"]
    assert runs[0].start_url is not None and runs[0].start_url.endswith("/shop/login.html")


def test_typed_secrets_never_leave_the_parser() -> None:
    assert "Hunter2-Secret!" in next((OUTPUT / "traces").glob("*.trace")).read_text()  # the raw trace holds it
    episode = condense(OUTPUT, task="Sign in to Acme Books")
    text = strings(load_trajectory(OUTPUT).steps) + episode.model_dump_json()
    for secret in SECRETS:
        assert secret not in text


def test_a_folder_of_several_sessions(tmp_path: Path) -> None:
    traces = tmp_path / "out" / "traces"
    traces.mkdir(parents=True)
    for stamp in ("1795600000000", "1795700000000"):
        for src in (OUTPUT / "traces").iterdir():
            shutil.copy(src, traces / f"trace-{stamp}{src.suffix}")
    assert [p.name for p in trace_files(tmp_path / "out")] == ["trace-1795600000000.trace", "trace-1795700000000.trace"]
    with pytest.raises(InputError, match=r"holds 2 Playwright MCP traces; pass one .trace file \(newest: .*1795700000000"):
        load_trajectory(tmp_path / "out")
    assert expand_folders([tmp_path / "out", tmp_path / "x.zip"]) == [*trace_files(tmp_path / "out"), tmp_path / "x.zip"]
    with pytest.raises(InputError, match="a directory with no Playwright MCP traces"):
        load_trajectory(tmp_path)  # holds out/, not traces/


def test_a_trace_without_its_network_log_still_reads(tmp_path: Path) -> None:
    trace = next((OUTPUT / "traces").glob("*.trace"))
    shutil.copy(trace, tmp_path / trace.name)
    assert len(load_trajectory(tmp_path / trace.name).steps) == 6


def test_the_same_run_zipped_reads_the_same(tmp_path: Path) -> None:
    trace = next((OUTPUT / "traces").glob("*.trace"))
    with zipfile.ZipFile(tmp_path / "trace.zip", "w") as z:
        z.write(trace, "trace.trace")
        z.write(trace.with_suffix(".network"), "trace.network")
    zipped, live = load_trajectory(tmp_path / "trace.zip"), load_trajectory(trace)
    assert zipped.steps == live.steps and zipped.http_failures == live.http_failures


def test_ingest_takes_the_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(OUTPUT, out)
    result = CliRunner().invoke(app, ["ingest", str(out), "--task", "Sign in to Acme Books", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["status"] for r in rows] == ["added"] and rows[0]["file"].endswith(".trace")


def test_reported_steps_are_bounded_and_redacted() -> None:
    steps: list[dict[str, str] | str] = [
        {"action": "browser_navigate", "url": "https://shop.example.com/login"},
        {"action": "browser_type", "target": "Password field", "value": "Tr0ub4dor&3"},
        {"action": "click", "target": "Sign in", "url": "https://shop.example.com/login"},
        {"action": "goto", "url": "https://shop.example.com/account?pw=Tr0ub4dor%263&token=abc123def456"},
        "typed my api key sk-ant-api03-FAKEFAKEFAKEFAKEFAKE1234 into the search box",
        {"action": "extract", "result": "x" * 10_000},
    ]
    traj = reported_trajectory(steps, task="Sign in")
    text = strings(traj)
    for secret in ("Tr0ub4dor", "abc123def456", "sk-ant-api03-FAKE"):
        assert secret not in text
    assert [s.action for s in traj.steps] == ["goto", "fill", "click", "goto", "other", "extract"]
    assert traj.start_url == "https://shop.example.com/login" and traj.source_kind == "agent-steps"
    assert max(len(s.result or "") for s in traj.steps) == MAX_CHARS
    assert len(reported_trajectory(steps * 100, keep_last=50).steps) == 50


@pytest.mark.parametrize(
    ("raw", "action"),
    [("browser_click", "click"), ("Navigate", "goto"), ("browser_press_key", "press"), ("fly", "other"), ("done", "done")],
)
def test_action_names(raw: str, action: str) -> None:
    assert action_name(raw) == action
