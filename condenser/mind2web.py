"""Read an Online-Mind2Web result (a task folder's `result.json`) into a redacted Trajectory.

The Online-Mind2Web leaderboard's submission format, used for SeeAct, Browser-Use, Agent-E, Claude Computer Use and
Operator runs: one folder per task holding `result.json` ({task_id, task, action_history, thoughts,
final_result_response, ...}) and screenshots under `trajectory/`. Actions are SeeAct-style lines
(`<button> Search -> CLICK`, `<input> From -> TYPE: New York`) or small objects. The start page is the task's
`website` (or `start_url`); the page the run ended on, where given (`final_url`), is the answer's page. A verdict in the
file (an auto-evaluator's `predicted_label`) is a judge's, recorded as such.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from webcoach.condenser.incidents import says_not_done
from webcoach.condenser.redact import Redactor
from webcoach.condenser.secrets import secret_field
from webcoach.condenser.trajectory import Step, Trajectory
from webcoach.errors import InputError

SUPPORTED = "Online-Mind2Web result.json (task, action_history, final_result_response)"
_LINE = re.compile(r"^\s*(?P<target>.*?)\s*->\s*(?P<op>[A-Za-z_ ]+?)\s*(?::\s*(?P<value>.*))?\s*$", re.S)
_OPS = {
    "click": "click",
    "type": "fill",
    "fill": "fill",
    "select": "select",
    "hover": "hover",
    "press enter": "press",
    "enter": "press",
    "press": "press",
    "scroll": "scroll",
    "scroll up": "scroll",
    "scroll down": "scroll",
    "goto": "goto",
    "go to": "goto",
    "navigate": "goto",
    "go back": "back",
    "goback": "back",
    "answer": "done",
    "terminate": "done",
    "stop": "done",
    "wait": "wait",
}
_MAX = 300


def looks_like_mind2web(data: Mapping[str, Any]) -> bool:
    return isinstance(data.get("action_history"), list) and (
        "final_result_response" in data or isinstance(data.get("task"), str) or isinstance(data.get("confirmed_task"), str)
    )


def parse_mind2web(data: Mapping[str, Any], redactor: Redactor, *, source: str | None = None) -> Trajectory:
    name = source or "result.json"
    history = data.get("action_history")
    if not isinstance(history, list):
        raise InputError(f"{name}: no 'action_history' list: not an Online-Mind2Web result ({SUPPORTED})")
    parsed = [_action(item) for item in history]
    for action, target, value in parsed:  # secrets first: a password typed at step 5 may show up anywhere
        if action == "fill" and value and secret_field(target):
            redactor.add_secret(value)
    start = _first_str(data, "website", "start_url", "url")
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    final_url = _first_str(data, "final_url") or _first_str(metadata, "final_url")
    answer = data.get("final_result_response")
    answer = redactor.text(" ".join(answer.split())[:4000]) if isinstance(answer, str) and answer.strip() else None
    steps: list[Step] = []
    if start:
        steps.append(Step(index=0, action="goto", url=None, target=redactor.url(start)))
    for action, target, value in parsed:
        if action is None:
            continue
        goto = action == "goto" and value and value.startswith(("http://", "https://"))
        steps.append(
            Step(
                index=len(steps),
                action=action,
                target=redactor.url(value) if goto else _clip(redactor.text(target)),
                value=None if goto else _clip(redactor.text(value)),
            )
        )
    if answer is not None or final_url:
        steps.append(Step(index=len(steps), action="done", url=redactor.url(final_url), result=answer))
    if not steps:
        raise InputError(f"{name}: the result has no actions, no start page and no answer: nothing to condense")
    task = _first_str(data, "task", "confirmed_task")
    label = data.get("predicted_label")
    judged = label in (0, 1) and not isinstance(label, bool)
    return Trajectory(
        source_kind="mind2web",
        steps=tuple(steps),
        task=redactor.text(task) if task else None,
        start_url=redactor.url(start),
        final_answer=answer,
        # The agent's final words are its claim only where they say it failed: a plain answer may be right or wrong.
        claimed_success=False if answer and says_not_done(answer) else None,
        judge_success=bool(label) if judged else None,
        judge_reason="an auto-evaluator's label in the result file" if judged else None,
        source=source,
    )


def _action(item: object) -> tuple[str | None, str, str | None]:
    """(canonical action, target, value) of one action_history entry."""
    if isinstance(item, Mapping):
        op = str(item.get("action") or item.get("operation") or item.get("type") or "").strip().lower()
        target = str(item.get("element") or item.get("target") or item.get("selector") or "")
        value = item.get("value") or item.get("text") or item.get("url")
        return _OPS.get(op, "other" if op else None), target, str(value) if value is not None else None
    if not isinstance(item, str) or not item.strip():
        return None, "", None
    found = _LINE.match(item)
    if not found:
        return "other", item, None
    op = " ".join(found.group("op").lower().split())
    return _OPS.get(op, "other"), found.group("target"), found.group("value")


def _first_str(data: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _clip(text: str | None) -> str | None:
    if not text:
        return None
    text = " ".join(text.split())
    return text if len(text) <= _MAX else text[: _MAX - 1] + "…"
