"""What an eval run promises before any browser starts: no WebVoyager run without a judge (unless the agent's own
claim is asked for), --resume refusing any changed setting in one line, tasks matched by id across date shifts,
temperature 0 and the seed for hosted agents and judges, the judge told about off-site screenshots, --plan's power."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.condenser.episode import Episode
from webcoach.errors import ConfigError
from webcoach.hooks.runner import browser_llm
from webcoach.llm import queue_model
from webcoach.llm_anthropic import AnthropicModel
from webcoach.tasks import eval_state
from webcoach.tasks.eval_plan import EvalOptions, plan_eval
from webcoach.tasks.eval_rows import same_task
from webcoach.tasks.evaluate import _manifest
from webcoach.tasks.judge import Evidence, LLMJudge, make_judge
from webcoach.tasks.taskset import SAMPLE_TASKS, Task


def test_webvoyager_without_a_judge_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no --judge: pass an LLM judge"):
        plan_eval(EvalOptions(suite="webvoyager", out_dir=tmp_path, model="scripted:x.json"))
    result = CliRunner().invoke(app, ["eval", "--suite", "webvoyager", "--model", "scripted:x.json", "--out", str(tmp_path)])
    assert result.exit_code != 0 and result.output.count("\n") == 1 and "--judge agent" in result.output
    with pytest.raises(ConfigError, match="MiniWoB"):
        plan_eval(EvalOptions(suite="webvoyager", out_dir=tmp_path, model="scripted:x.json", judge="reward"))
    agent = plan_eval(EvalOptions(suite="webvoyager", out_dir=tmp_path, model="scripted:x.json", judge="agent", ids="GitHub--0"))
    assert any("agent's own claim" in n for n in agent.notes)


def _manifest_of(tmp_path: Path, **over: Any) -> dict[str, Any]:
    given: dict[str, Any] = {"tasks_file": SAMPLE_TASKS, "out_dir": tmp_path, "model": "scripted:x.json", "judge": "agent"}
    options = EvalOptions(**{**given, **over})
    plan = plan_eval(options)
    return json.loads(json.dumps(_manifest(plan.config, plan.tasks, make_judge(plan.config.judge), 5), default=str))


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"llm_seed": 7}, "seed"),
        ({"allow_same_task": True}, "exclude_same_task"),
        ({"screenshots": 5}, "screenshots"),
        ({"concurrency": 2}, "concurrency"),
        ({"coach_max_interventions": 1}, "coach_config"),
        ({"time_limit": 60.0}, "time_limit_s"),
        ({"sample_seed": 3, "limit": 2}, "selection"),
    ],
)
def test_resume_refuses_any_changed_setting_in_one_line(tmp_path: Path, change: dict[str, Any], key: str) -> None:
    before = _manifest_of(tmp_path)
    eval_state.check_resume(tmp_path, before, _manifest_of(tmp_path))  # the same settings: fine
    with pytest.raises(ConfigError) as caught:
        eval_state.check_resume(tmp_path, {**before, "started_at": "x"}, _manifest_of(tmp_path, **change))
    message = str(caught.value)
    assert "\n" not in message and f"({key} " in message and "started with other settings" in message


def test_run_json_names_what_a_rerun_needs(tmp_path: Path) -> None:
    script = tmp_path / "agent.json"
    script.write_text("[]")
    manifest = _manifest_of(tmp_path, model=f"scripted:{script}", coach_k=3, time_limit=90.0)
    assert manifest["scripted_model"]["sha256"] and manifest["coach_config"]["k"] == 3 and manifest["time_limit_s"] == 90.0
    assert manifest["packages"]["browser-use"] and "miniwob" in manifest["packages"]
    assert manifest["judge_config"] == {} and manifest["health_check"] is True
    from webcoach.tasks.taskset import SAMPLE_ANSWERS

    answers = _manifest_of(tmp_path, answers=SAMPLE_ANSWERS)["answers_file"]
    assert answers["sha256"] == hashlib.sha256(SAMPLE_ANSWERS.read_bytes()).hexdigest()


def test_a_date_shifted_task_still_knows_its_own_episodes(tmp_path: Path) -> None:
    """Memory from a run with --date-shift 1 must be kept from the same task run with --date-shift auto."""
    base: dict[str, Any] = {"suite": "webvoyager", "out_dir": tmp_path, "model": "scripted:x.json", "judge": "agent"}
    one = plan_eval(EvalOptions(**base, sites="Booking", date_shift="1"))
    auto = plan_eval(EvalOptions(**base, sites="Booking", date_shift="auto"))
    before, now = next((a, b) for a, b in zip(one.tasks, auto.tasks, strict=True) if a.question != b.question)
    assert before.id == now.id
    episode = Episode(
        id="e1",
        task=before.question,
        start_url=before.start_url,
        summary="s",
        source_kind="browser-use",
        content_hash="h",
    )
    assert same_task(now, now.start_url)(episode)
    other = next(t for t in auto.tasks if t.id != now.id)
    assert not same_task(other, other.start_url)(episode)
    # The eval stores each run with its task id: that decides, whatever the question says.
    by_id = episode.model_copy(update={"task_id": now.id, "task": "a question reworded beyond recognition"})
    assert same_task(now, now.start_url)(by_id)
    assert not same_task(other, other.start_url)(by_id.model_copy(update={"task": other.question}))


def test_hosted_agents_get_temperature_0_and_the_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    chat = browser_llm("openai:gpt-4o", seed=7, temperature=0.0)  # no --base-url: api.openai.com
    assert (chat.temperature, chat.seed) == (0.0, 7)
    # browser-use's anthropic client passes these to an SDK whose create() refuses them: never set
    claude = browser_llm("anthropic:claude-sonnet-4-5", seed=7, temperature=0.0)
    # Not browser-use's own fields: it would pass them to an SDK whose create() refuses them (the request body, below).
    assert (claude.temperature, claude.seed) == (None, None)


async def test_an_anthropic_agent_decodes_at_temperature_0(monkeypatch: pytest.MonkeyPatch, fake_anthropic: Any) -> None:
    from browser_use.llm.messages import UserMessage
    from pydantic import BaseModel

    class Reply(BaseModel):
        text: str

    api = fake_anthropic(lambda body: {"text": "ok"})
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
    claude = browser_llm("anthropic:claude-sonnet-4-5", seed=7, temperature=0.0)
    done = await claude.ainvoke([UserMessage(content="hello")], output_format=Reply)
    assert done.completion.text == "ok"
    (request,) = api.requests
    assert request["temperature"] == 0.0 and "seed" not in request  # through the real SDK, as the Messages API takes it


class _Messages:
    def __init__(self, refuse: bool) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refuse = refuse

    async def create(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if self.refuse and "temperature" in (kwargs.get("extra_body") or {}):
            request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
            response = httpx2.Response(400, request=request)
            raise anthropic.BadRequestError("temperature is not supported for this model", response=response, body=None)
        block = type("Block", (), {"type": "text", "text": "Looks right.\nVerdict: SUCCESS"})()
        return type("Message", (), {"content": [block], "usage": None})()


@pytest.mark.parametrize("refuse", [False, True])
async def test_an_anthropic_judge_sends_temperature_0_or_says_it_could_not(refuse: bool) -> None:
    messages = _Messages(refuse)
    client = type("Client", (), {"messages": messages})()
    model = AnthropicModel("claude-sonnet-4-5", client=client)  # type: ignore[arg-type]
    judge = LLMJudge(model)
    verdict = await judge.judge(
        Evidence(task=Task(id="t", site="s", question="q", start_url="u"), final_answer="a", claimed_success=True)
    )
    assert verdict.success is True
    assert messages.calls[0]["extra_body"] == {"temperature": 0.0}
    assert judge.describe()["temperature"] == (None if refuse else 0.0)
    if refuse:
        assert "extra_body" not in messages.calls[1]


async def test_the_judge_is_told_when_the_run_ended_off_site() -> None:
    model = queue_model("It is another site.\nVerdict: NOT SUCCESS")
    task = Task(id="GitHub--0", site="GitHub", question="Find a repo.", start_url="https://github.com/")
    evidence = Evidence(task=task, final_answer="x", claimed_success=True, final_url="https://example.org/a", off_site=True)
    verdict = await LLMJudge(model).judge(evidence)
    assert verdict.success is False
    prompt = model.calls[0][1]
    assert "ended off the task's website (GitHub) at https://example.org/a" in prompt
    on_site = queue_model("ok\nSUCCESS")
    await LLMJudge(on_site).judge(Evidence(task=task, final_answer="x", claimed_success=True, final_url="https://github.com/x"))
    assert "off the task's website" not in on_site.calls[0][1]


def test_plan_prints_power_for_the_selection_and_stops(tmp_path: Path) -> None:
    args = ["eval", "--suite", "webvoyager", "--sites", "Allrecipes,GitHub", "--limit", "40", "--judge", "agent"]
    result = CliRunner().invoke(app, [*args, "--plan", "--model", "scripted:x.json", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "Plan: 40 tasks over 2 site(s)" in result.stdout and "LOW POWER: n=40 tasks" in result.stdout
    assert "needs 1,568" in result.stdout  # +5 pts with independent arms
    assert not (tmp_path / "o").exists()  # nothing run


@pytest.mark.parametrize(
    "option", [["--coach-k", "0"], ["--coach-min-similarity", "1.5"], ["--coach-timeout", "0"], ["--time-limit", "-1"]]
)
def test_coach_settings_and_time_limits_out_of_range_are_one_line_errors(tmp_path: Path, option: list[str]) -> None:
    args = ["eval", str(SAMPLE_TASKS), "--judge", "agent", "--model", "scripted:x.json", "--out", str(tmp_path / "o"), *option]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and result.output.startswith("error: ") and result.output.count("\n") == 1
    assert not (tmp_path / "o").exists()
