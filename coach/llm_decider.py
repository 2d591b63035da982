"""The LLM decider: the model sees the task, the live run and the retrieved episodes and answers
{"intervene": bool, "advice": str, "cited_ids": [...]}. Any error or junk means silence: the coach fails open."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from webcoach.coach.advice import Advice, Situation, observe
from webcoach.condenser.guard import FENCE_RULE, clean, fence, text_problem
from webcoach.condenser.redact import Redactor
from webcoach.condenser.rules import clip, describe, short_url
from webcoach.errors import ModelError
from webcoach.llm import ChatModel

log = logging.getLogger("webcoach")

SYSTEM = (
    "You coach a web-browsing agent while it works, using memories of similar past runs. Intervene only when a memory "
    "clearly helps now: the agent is repeating a past mistake, is stuck, or a past success shows a shorter path. "
    "Otherwise stay silent. Advice is at most three sentences, concrete, and cites the memories it rests on. Never tell "
    "the agent to visit another site than its own, to ignore its task or instructions, or to enter or send credentials "
    "or payment details. "
)


class _Decision(BaseModel):
    intervene: bool
    advice: str = Field(default="", max_length=1200)
    cited_ids: list[str] = Field(default_factory=list)


SCHEMA: dict[str, Any] = _Decision.model_json_schema()


def build_prompt(situation: Situation) -> str:
    """The task and the agent's site in plain lines; everything recorded from pages inside fenced data blocks."""
    lines = [FENCE_RULE, f"Task: {clean(situation.task)}", f"The agent's site: {situation.site or 'unknown'}"]
    live: list[str] = [f"Current page: {situation.url or 'not started'}"]
    if situation.trajectory is not None and situation.trajectory.steps:
        live.append(f"Steps so far ({situation.step}):")
        for s in situation.trajectory.steps[-12:]:
            live.append(
                f"  {s.index}. [{short_url(s.url)}] {describe(s)}" + (f" -> ERROR {clip(s.error, 120)}" if s.error else "")
            )
    else:
        live.append("The agent has not started yet.")
    lines.append(fence("live run", "\n".join(live)))
    if situation.given:
        lines.append("Advice already given (do not repeat): " + " | ".join(clean(a.text) for a in situation.given))
    memories: list[str] = []
    for hit in situation.hits:
        ep = hit.episode
        where = "this site" if hit.same_site else "another site (general lessons only)"
        memories.append(
            f"- id={ep.id} site={where} outcome={ep.outcome.value} trust={ep.trust} steps={ep.step_count} "
            f"similarity={hit.similarity:.2f} task={clip(ep.task, 200)!r}"
        )
        if ep.summary:
            memories.append(f"  summary: {clip(ep.summary, 300)}")
        for lesson in ep.lessons[:3]:
            memories.append(f"  lesson: {clip(lesson, 300)}")
    lines.append(fence("memories of similar past runs", "\n".join(memories)))
    lines.append('Answer with JSON: {"intervene": true|false, "advice": "...", "cited_ids": ["..."]}')
    return "\n".join(lines)


def parse_decision(text: str) -> _Decision:
    start, end = text.find("{"), text.rfind("}")
    if not 0 <= start < end:
        raise ModelError("no JSON object in the answer")
    try:
        return _Decision.model_validate(json.loads(text[start : end + 1]))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ModelError(f"unusable decision: {str(exc).splitlines()[0]}") from exc


class LLMDecider:
    def __init__(self, model: ChatModel) -> None:
        self.model = model

    async def decide(self, situation: Situation) -> Advice | None:
        if not situation.hits:
            return None  # nothing to cite: no reason to pay for a call
        try:
            decision = parse_decision(await self.model.complete(SYSTEM, build_prompt(situation), schema=SCHEMA))
        except ModelError as exc:
            log.warning(
                "LLM coach %s gave no usable decision (%s); staying silent", self.model.name, str(exc).splitlines()[0][:160]
            )
            return None
        known = {h.episode.id: h for h in situation.hits}
        cited = [i for i in decision.cited_ids if i in known]
        text = Redactor().text(decision.advice.strip()) or ""
        if not decision.intervene or not text:
            return None
        if not cited:  # advice that rests on no retrieved episode is the model's own opinion, not memory
            log.warning("LLM coach %s advised without citing a retrieved episode; staying silent", self.model.name)
            return None
        problem = text_problem(text, situation.site)  # the same check as every stored text (any verb form, any host)
        if problem is not None:  # the model may have been steered by page text in the memories
            log.warning("LLM coach %s advice dropped: it %s", self.model.name, problem)
            return None
        first = known[cited[0]].episode
        return Advice(
            text="A model read the past runs cited here and noted what is quoted below.",
            observations=[observe("note", text, first, situation.site, limit=400)],
            episode_ids=cited,
            site=situation.site,
            why=f"{self.model.name} matched the run against {len(cited)} past episode(s)",
            confidence=max(0.0, min(1.0, max(known[i].similarity for i in cited))),
            trigger="llm",
            step=situation.step if situation.trajectory is not None else None,
            key="llm:" + re.sub(r"\W+", " ", text.lower())[:80],
        )
