"""The WebCoach paper's protocol, end to end: every LLM role (agent, coach, condenser, judge) an OpenAI-compatible
endpoint (a real local HTTP server standing in for vLLM/SGLang), shuffled task order, interleaved arms, repeats, the
judge's raw answers kept, a judge sample labelled by a person, and the report's cost per role and agreement."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.tasks.eval_plan import EvalOptions, plan_eval
from webcoach.tasks.evaluate import EvalConfig, Job, plan_jobs
from webcoach.tasks.results import read_results
from webcoach.tasks.taskset import SAMPLE_TASKS, load_tasks
from webcoach.tasks.webvoyager import WEBVOYAGER_TASKS


def _server_answer(body: dict[str, Any]) -> str:
    content = body["messages"][0].get("content")
    system = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content or [])
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    if schema == "agent_output":  # browser-use's agent step
        return json.dumps(
            {
                "thinking": "The price is on the page.",
                "evaluation_previous_goal": "Start.",
                "memory": "On the shop.",
                "next_goal": "Answer.",
                "action": [{"done": {"text": "Foundation, $7.25", "success": True}}],
            }
        )
    if system.startswith("As an evaluator"):
        return "The response names a book and a price.\nSUCCESS"
    if system.startswith("You coach"):
        return json.dumps({"intervene": False, "advice": "", "cited_ids": []})
    if system.startswith("You condense"):
        return json.dumps({"summary": "Answered from the home page.", "lessons": ["Read prices on the home page."]})
    return "unexpected request"


@pytest.mark.slow
def test_every_llm_role_on_an_openai_compatible_server(tmp_path: Path, chromium: str, fake_openai: Any) -> None:
    server = fake_openai(_server_answer)
    out = tmp_path / "run"
    args = ["eval", str(SAMPLE_TASKS), "--limit", "2", "--arms", "baseline,coach", "--repeats", "2", "--order-seed", "3"]
    args += ["--model", "openai:qwen2.5-vl-7b", "--base-url", server.url, "--judge", "openai:judge-model"]
    args += ["--coach-llm", "openai:coach-model", "--condenser-llm", "openai:condenser-model", "--judge-sample", "3"]
    args += ["--out", str(out), "--browser", chromium, "--max-steps", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = read_results(out / "results.jsonl")
    assert len(rows) == 8 and {r.repeat for r in rows} == {0, 1}
    assert all(r.judge_raw == "The response names a book and a price.\nSUCCESS" and r.verdict is True for r in rows)
    assert all(r.usage["judge"].calls == 1 and r.usage["judge"].prompt_tokens == 100 for r in rows)
    assert all(r.usage["agent"].calls >= 1 for r in rows)
    coach_rows = [r for r in rows if r.arm == "coach"]
    assert all(r.usage["condenser"].calls == 1 for r in coach_rows)
    assert not any("condenser" in r.usage or "coach" in r.usage for r in rows if r.arm == "baseline")
    models = {b["model"] for b in server.requests}
    assert models == {"qwen2.5-vl-7b", "judge-model", "coach-model", "condenser-model"}
    assert all(b.get("temperature") == 0 for b in server.requests)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["model"] == "openai:qwen2.5-vl-7b" and manifest["base_url"] == server.url
    assert manifest["judge"] == "llm:openai:judge-model" and manifest["condenser_llm"] == "openai:condenser-model"
    assert manifest["order_seed"] == 3 and manifest["repeats"] == 2 and manifest["finished_at"]

    sheet = out / "judge-sample" / "sheet.csv"
    with sheet.open(newline="") as f:
        labelled = list(csv.DictReader(f))
    assert len(labelled) == 3 and (out / "judge-sample" / "sheet.html").exists()
    for i, row in enumerate(labelled):
        row["human"] = "success" if i < 2 else "failure"  # the person disagrees once
    with sheet.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(labelled[0]))
        writer.writeheader()
        writer.writerows(labelled)
    report = CliRunner().invoke(app, ["report", str(out), "--no-plots"])
    assert report.exit_code == 0, report.output
    assert "Judge-human agreement" in report.output and "66.7%" in report.output
    md = (out / "report.md").read_text()
    assert "| 3 | 2 | 66.7% |" in md  # labelled, agreeing, agreement
    assert "| coach | condenser | 4 | 400 | 40 | - |" in md and "| baseline | judge | 4 | 400 | 40 | - |" in md


def test_arms_are_interleaved_per_task_in_a_seeded_order_and_repeats_follow(tmp_path: Path) -> None:
    tasks = load_tasks(SAMPLE_TASKS)[:3]
    config = EvalConfig(out_dir=tmp_path, model="scripted:x.json", arms=("baseline", "coach"), repeats=2, order_seed=5)
    jobs = plan_jobs(tasks, config, {t.id: i for i, t in enumerate(tasks)})
    assert len(jobs) == 12
    for k in range(0, 12, 2):  # each task's two arms run one after the other
        assert jobs[k].task == jobs[k + 1].task and {jobs[k].arm, jobs[k + 1].arm} == {"baseline", "coach"}
    assert [j.repeat for j in jobs] == [0] * 6 + [1] * 6
    firsts = [j.arm for j in jobs[::2]]
    assert len(set(firsts)) == 2  # the arm that goes first varies
    assert plan_jobs(tasks, config, {t.id: i for i, t in enumerate(tasks)}) == jobs  # same seed, same order
    assert isinstance(jobs[0], Job)


def test_order_seed_shuffles_the_tasks_reproducibly(tmp_path: Path) -> None:
    plain = plan_eval(EvalOptions(tasks_file=SAMPLE_TASKS, out_dir=tmp_path, model="scripted:x.json", judge="agent"))
    one = plan_eval(EvalOptions(tasks_file=SAMPLE_TASKS, out_dir=tmp_path, model="scripted:x.json", judge="agent", order_seed=1))
    again = plan_eval(
        EvalOptions(tasks_file=SAMPLE_TASKS, out_dir=tmp_path, model="scripted:x.json", judge="agent", order_seed=1)
    )
    assert [t.id for t in one.tasks] == [t.id for t in again.tasks] != [t.id for t in plain.tasks]
    assert sorted(t.id for t in one.tasks) == sorted(t.id for t in plain.tasks)


def test_the_bundled_webvoyager_suite_warns_about_past_dates_and_shifts_them(tmp_path: Path) -> None:
    from datetime import date

    base = {"suite": "webvoyager", "out_dir": tmp_path, "model": "scripted:x.json", "judge": "agent"}
    plan = plan_eval(EvalOptions(**base), today=date(2026, 11, 26))
    assert len(plan.tasks) == 643 and all(t.answers for t in plan.tasks if t.site == "Allrecipes")
    assert any(n.startswith("WARNING: 62 task(s) name dates that have passed") for n in plan.notes)
    assert plan.config.provenance["task_source"].startswith("webvoyager:WebVoyager_data.jsonl sha256:")
    shifted = plan_eval(EvalOptions(**base, date_shift="auto", sites="Booking"), today=date(2026, 11, 26))
    assert not any(n.startswith("WARNING") for n in shifted.notes)
    booking = {t.id: t.question for t in shifted.tasks}
    original = {t.id: t.question for t in load_tasks(WEBVOYAGER_TASKS) if t.site == "Booking"}
    changed = [i for i in booking if booking[i] != original[i]]
    assert changed and all("2026" in booking[i] or "2027" in booking[i] for i in changed)
    assert all(re.sub(r"20\d\d", "Y", booking[i]) == re.sub(r"20\d\d", "Y", original[i]) for i in changed)  # only years move
    with pytest.raises(Exception, match="--date-shift 'soon' is not valid"):
        plan_eval(EvalOptions(**base, date_shift="soon"))
