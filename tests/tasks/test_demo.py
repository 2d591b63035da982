"""`webcoach demo`, the README's main job on a fresh machine without an API key: real browser sessions (Playwright on
Debian chromium) on the bundled shop, condensed and stored in the embedded store, then the coach's advice for a new task."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.memory.store import EpisodeStore
from webcoach.tasks.demo import DEMO_NAMESPACE, DEMO_PASSWORD, PAST_RUNS


@pytest.mark.slow
def test_demo_records_stores_and_advises_without_an_api_key(chromium: str, tmp_path: Path) -> None:
    home = Path(os.environ["WEBCOACH_HOME"])
    as_json = CliRunner().invoke(app, ["demo", "--browser", chromium, "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["namespace"] == "demo" and len(data["episodes"]) == len(PAST_RUNS) and data["advice"]["rendered"]
    # a second demo starts its namespace afresh: the same episodes, not twice as many
    shown = CliRunner().invoke(app, ["demo", "--browser", chromium])
    assert shown.exit_code == 0, shown.output
    # Right after the demo, `memory list` looks in 'default': the error names the option that finds the demo's.
    listed = CliRunner().invoke(app, ["memory", "list"])
    assert listed.exit_code == 1 and "-n demo" in listed.output
    assert "The coach's advice before the first step" in shown.output
    assert re.search(r"\[webcoach notes from past runs on 127\.0\.0\.1:\d+\]", shown.output)  # a local site is host:port
    assert "[end of webcoach notes]" in shown.output
    assert "Set ANTHROPIC_API_KEY" in shown.output  # says how to get the coached agent run, does not fail without it
    with EpisodeStore(home=home, namespace=DEMO_NAMESPACE) as store:
        stored = store.list()
        exported = store.export(tmp_path / "demo.jsonl")
    assert sorted(e.task for e in stored) == sorted(task for task, _, _ in PAST_RUNS) and exported == len(PAST_RUNS)
    assert sorted(e.outcome.value for e in stored) == sorted(outcome for _, _, outcome in PAST_RUNS)
    # The sign-in run typed a password: it is in no stored episode, export or output, and the raw traces that do
    # hold it are the owner's alone.
    assert DEMO_PASSWORD not in (tmp_path / "demo.jsonl").read_text() and DEMO_PASSWORD not in shown.output
    traces = sorted((home / "demo" / "traces").glob("*.zip"))
    assert len(traces) == len(PAST_RUNS)
    assert stat.S_IMODE((home / "demo").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(t.stat().st_mode) == 0o600 for t in traces)
