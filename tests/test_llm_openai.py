"""The OpenAI-compatible adapter against a real local HTTP server speaking the protocol (vLLM, SGLang, Ollama, OpenAI)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from webcoach.errors import ConfigError, ModelError
from webcoach.llm import metered, usage_role
from webcoach.llm_openai import OpenAIModel
from webcoach.providers import resolve_model
from webcoach.tasks.judge import Evidence, make_judge
from webcoach.tasks.taskset import Task


async def test_requests_are_deterministic_and_usage_is_counted_per_role(fake_openai: Any) -> None:
    server = fake_openai(lambda body: "Looks right.\nSUCCESS")
    model = resolve_model("openai:qwen2.5-vl-32b", base_url=server.url, seed=7)
    assert isinstance(model, OpenAIModel) and model.name == "openai:qwen2.5-vl-32b"
    with metered() as meter, usage_role("judge"):
        text = await model.complete("system text", "prompt text", images=[b"\x89PNG fake"])
    assert text == "Looks right.\nSUCCESS"
    (body,) = server.requests
    assert body["model"] == "qwen2.5-vl-32b" and body["temperature"] == 0 and body["seed"] == 7
    assert body["messages"][0] == {"role": "system", "content": "system text"}
    parts = body["messages"][1]["content"]
    assert parts[0] == {"type": "text", "text": "prompt text"} and parts[1]["image_url"]["url"].startswith(
        "data:image/png;base64,"
    )
    usage = meter.by_role["judge"]
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (1, 100, 10)


async def test_json_answers_use_response_format_and_fences_are_stripped(fake_openai: Any) -> None:
    server = fake_openai(lambda body: '```json\n{"intervene": false}\n```')
    model = resolve_model("sglang:qwen", base_url=server.url)
    assert json.loads(await model.complete("s", "p", schema={"type": "object"})) == {"intervene": False}
    assert server.requests[0]["response_format"]["type"] == "json_schema"
    bad = fake_openai(lambda body: "not json")
    with pytest.raises(ModelError, match="did not answer with JSON"):
        await resolve_model("vllm:qwen", base_url=bad.url).complete("s", "p", schema={"type": "object"})


def test_provider_prefixes_and_their_local_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert resolve_model("vllm:m").base_url == "http://127.0.0.1:8000/v1"  # type: ignore[attr-defined]
    assert resolve_model("sglang:m").base_url == "http://127.0.0.1:30000/v1"  # type: ignore[attr-defined]
    assert resolve_model("ollama:m").base_url == "http://127.0.0.1:11434/v1"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        resolve_model("openai:gpt-4o")  # the hosted API needs its key; a --base-url server does not
    assert resolve_model("openai:local", base_url="http://10.0.0.5:8000/v1").name == "openai:local"


async def test_an_unreachable_server_is_a_model_error(fake_openai: Any) -> None:
    server = fake_openai(lambda body: "x")
    server.close()
    model = OpenAIModel("m", base_url=server.url, timeout_s=2)
    with pytest.raises(ModelError, match="openai:m request failed"):
        await model.complete("s", "p")


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ("The response lists the recipe.\nSUCCESS", True),
        ("The screenshot shows no price.\nNOT SUCCESS", False),
        ("Some parts were done.\nPARTIALLY SUCCESSFUL", None),
        ("The task was partially successful.", None),
        ("Verdict: partial success", None),
    ],
)
async def test_openai_judge_keeps_its_raw_answer_and_reads_hedges_as_unknown(
    fake_openai: Any, answer: str, verdict: bool | None
) -> None:
    server = fake_openai(lambda body: answer)
    judge = make_judge("openai:gpt-4o", base_url=server.url, seed=1)
    task = Task(id="t", site="s", question="Find a recipe", start_url="https://example.com/")
    result = await judge.judge(Evidence(task=task, final_answer="Lasagna", claimed_success=True))
    assert result.success is verdict and result.raw == answer and judge.name == "llm:openai:gpt-4o"
    assert server.requests[0]["temperature"] == 0 and server.requests[0]["seed"] == 1
