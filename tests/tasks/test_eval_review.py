"""A reviewer's runs, end to end through a local OpenAI-compatible stand-in that logs every prompt (agent, coach,
condenser, judge): MiniWoB++ offline (decoding settings, final URLs, run.json provenance, --resume refusing a changed
setting, the report and its pictures), and WebVoyager tasks whose sites are unreachable offline (outages: never
judged, never stored, out of every rate, counted)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.hooks.scripted import find_element, page_elements
from webcoach.tasks.results import read_results

pytestmark = pytest.mark.slow


def _text(body: dict[str, Any]) -> str:
    parts = []
    for message in body["messages"]:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts += [p.get("text", "") for p in content or [] if isinstance(p, dict)]
    return "\n".join(parts)


def _system(body: dict[str, Any]) -> str:
    content = body["messages"][0].get("content")
    return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content or [])


def _agent_step(actions: list[dict[str, Any]], goal: str) -> str:
    return json.dumps({"thinking": goal, "evaluation_previous_goal": "ok", "memory": goal, "next_goal": goal, "action": actions})


def _server(body: dict[str, Any]) -> str:
    """Agent: click the button ONE, then say done. Coach: silent. Condenser: a summary. Judge: a verdict line."""
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    if schema == "agent_output":
        prompt = _text(body)
        button = find_element(page_elements(prompt), "ONE")
        if "Click the button ONE." in prompt.split("<browser_state>")[0] or button is None:
            return _agent_step([{"done": {"text": "Clicked ONE.", "success": True}}], "Report.")
        return _agent_step([{"click": {"index": button.index}}], "Click the button ONE.")
    system = _system(body)
    if system.startswith("As an evaluator"):
        return "The response says it is done.\nVerdict: SUCCESS"
    if system.startswith("You coach"):
        return json.dumps({"intervene": False, "advice": "", "cited_ids": []})
    if system.startswith("You condense"):
        return json.dumps({"summary": "Clicked the button.", "lessons": ["Click the named button."]})
    return "unexpected request"


def test_miniwob_through_an_openai_compatible_server(tmp_path: Path, chromium: str, fake_openai: Any) -> None:
    server = fake_openai(_server)
    out = tmp_path / "run"
    args = ["eval", "--suite", "miniwob", "--tasks", "click-test-2", "--episodes", "2", "--arms", "baseline,coach"]
    args += ["--model", "openai:agent-model", "--base-url", server.url, "--llm-seed", "11", "--order-seed", "2"]
    args += ["--coach-llm", "openai:coach-model", "--condenser-llm", "openai:condenser-model"]
    args += ["--coach-max-interventions", "1", "--time-limit", "120", "--max-steps", "4"]
    args += ["--out", str(out), "--browser", chromium]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = read_results(out / "results.jsonl")
    assert len(rows) == 4 and all(r.error is None and r.outage is None for r in rows)
    assert all(r.judged_success and r.judge == "miniwob-reward" for r in rows)
    assert all(r.final_url and "click-test-2" in r.final_url and r.off_site is False for r in rows)
    assert {b["model"] for b in server.requests} == {"agent-model", "condenser-model"} | (
        {"coach-model"} if any(_system(b).startswith("You coach") for b in server.requests) else set()
    )
    assert all(b.get("temperature") == 0 and b.get("seed") == 11 for b in server.requests)

    manifest = json.loads((out / "run.json").read_text())
    assert manifest["packages"]["miniwob"] and manifest["packages"]["browser-use"]
    assert manifest["browser_version"].lower().startswith("chromium")
    assert manifest["code_revision"] is None or len(manifest["code_revision"].split("+")[0]) == 40
    assert manifest["coach_config"]["max_interventions"] == 1 and manifest["time_limit_s"] == 120.0
    assert manifest["agent_decoding"] == {"temperature": 0.0, "seed": 11} and manifest["miniwob_seed"] == 0
    assert manifest["embedder_used"]["coach"]

    again = CliRunner().invoke(app, [*args, "--resume"])
    assert again.exit_code == 0 and "0 runs to do, 4 already done" in again.output
    changed = [a if a != "11" else "12" for a in args]
    refused = CliRunner().invoke(app, [*changed, "--resume"])
    assert refused.exit_code != 0 and "started with other settings (" in refused.output and "seed 11 -> 12)" in refused.output
    assert refused.output.count("\n") == 1

    report = CliRunner().invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    assert "coach 100.0% vs baseline 100.0%: +0.0 pts" in report.output and "n=2 tasks" in report.output
    assert "LOW POWER: n=2 tasks" in report.output
    for name in ("success_by_arm", "paired_difference", "learning_curve"):
        assert (out / f"{name}.png").read_bytes().startswith(b"\x89PNG")


def _offline(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return True
    return False


def test_webvoyager_sites_that_are_down_are_outages_not_failures(tmp_path: Path, chromium: str, fake_openai: Any) -> None:
    if not (_offline("www.allrecipes.com") and _offline("github.com")):
        pytest.skip("these sites resolve here: the outage path needs them unreachable")
    server = fake_openai(_server)
    out = tmp_path / "checked"
    args = ["eval", "--suite", "webvoyager", "--ids", "Allrecipes--0,GitHub--0", "--arms", "baseline,coach"]
    args += ["--model", "openai:agent-model", "--base-url", server.url, "--judge", "openai:judge-model"]
    args += ["--condenser-llm", "openai:condenser-model", "--browser", chromium, "--max-steps", "2"]
    checked = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert checked.exit_code == 0, checked.output
    rows = read_results(out / "results.jsonl")
    assert len(rows) == 4 and all(r.outage and r.outage.startswith("health check:") for r in rows)
    assert server.requests == []  # no agent ran, no judge was asked
    assert "(4 outages: the site was down" in checked.output and "nothing counted" in checked.output
    retried = CliRunner().invoke(app, [*args, "--out", str(out), "--resume"])
    assert retried.exit_code == 0 and "4 runs to do" in retried.output  # the site may be back: every arm runs again

    # Without the health check the agents run: the start page never loads, and that is an outage too.
    out = tmp_path / "unchecked"
    unchecked = CliRunner().invoke(app, [*args, "--no-health-check", "--out", str(out)])
    assert unchecked.exit_code == 0, unchecked.output
    rows = read_results(out / "results.jsonl")
    assert len(rows) == 4 and all(r.outage and "the start page never loaded" in r.outage for r in rows)
    assert all(r.verdict is None and not r.judged_success and r.error is None for r in rows)
    systems = [_system(b) for b in server.requests]
    assert systems and not any(s.startswith(("As an evaluator", "You condense")) for s in systems)  # not judged, not stored
    assert not any((out / "runs" / "coach").glob("*/episode.json"))
    from webcoach.memory.store import EpisodeStore

    store = EpisodeStore(path=out / "stores" / "coach")
    try:
        assert store.count() == 0
    finally:
        store.close()

    report = CliRunner().invoke(app, ["report", str(out), "--no-plots"])
    assert report.exit_code == 0, report.output
    assert "OUTAGES: 2 task run(s) met a site that was down" in report.output
    assert "4 outage run(s)" in report.output and "Outages (not counted in any arm" in report.output


async def test_a_per_task_time_limit_stops_the_agent_and_counts_as_a_failure(tmp_path: Path, chromium: str) -> None:
    from webcoach.hooks.scripted import ScriptedLLM
    from webcoach.tasks.evaluate import EvalConfig, evaluate
    from webcoach.tasks.taskset import SAMPLE_TASKS, load_tasks

    def wandering(task: object) -> ScriptedLLM:
        return ScriptedLLM([[{"scroll": {"down": True}}]] * 20 + [[{"done": {"text": "done", "success": True}}]])

    config = EvalConfig(
        out_dir=tmp_path / "run",
        model=wandering,
        judge="agent",
        arms=("baseline",),
        browser=chromium,
        max_steps=25,
        time_limit_s=0.5,
    )
    run = await evaluate(load_tasks(SAMPLE_TASKS)[:1], config)
    (row,) = run.results
    assert row.time_limited and row.error is None and row.steps < 20 and not row.judged_success
    assert json.loads((tmp_path / "run" / "run.json").read_text())["time_limit_s"] == 0.5
