"""Steps an agent reports about its own run (the MCP server's `record_run(steps=...)` and `get_advice(recent_steps=...)`)
-> a redacted Trajectory.

An agent without a trace can still say what it did: a list of steps, each an object ({"action": "click", "target":
"Sign in", "url": ..., "value": ..., "error": ...}) or a plain sentence. Playwright MCP tool names (browser_click,
browser_type ...) are understood as actions. Input comes from an LLM, so it is bounded: only the last `keep_last` steps
and `MAX_CHARS` per field are read, and every value typed into a field whose name looks secret is masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from webcoach.condenser.redact import Redactor
from webcoach.condenser.trajectory import ACTIONS, Step, Trajectory

MAX_CHARS = 300  # per field: a step is a line in a prompt, not a page dump
MAX_STEPS = 200

_SYNONYMS = {
    "navigate": "goto",
    "open": "goto",
    "visit": "goto",
    "type": "fill",
    "fill_form": "fill",
    "input": "fill",
    "press_key": "press",
    "select_option": "select",
    "navigate_back": "back",
    "go_back": "back",
    "wait_for": "wait",
    "snapshot": "extract",
    "read": "extract",
    "file_upload": "upload",
    "tabs": "tab",
    "finish": "done",
    "answer": "done",
}
_SECRET_TARGET = re.compile(r"pass(?:word|wd|phrase|code)?|pwd|secret|token|api[-_ ]?key|otp|one-time|\bpin\b|cvv|cvc|card", re.I)


def action_name(raw: str) -> str:
    """'browser_click' / 'Click' / 'navigate' -> a canonical action; anything else is 'other'."""
    name = raw.strip().lower().removeprefix("browser_").replace("-", "_").replace(" ", "_")
    name = _SYNONYMS.get(name, name)
    return name if name in ACTIONS else "other"


def _clip(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text[:MAX_CHARS] if text else None


def reported_trajectory(
    steps: Sequence[Mapping[str, Any] | str],
    *,
    task: str | None = None,
    start_url: str | None = None,
    answer: str | None = None,
    success: bool | None = None,
    redactor: Redactor | None = None,
    keep_last: int = MAX_STEPS,
) -> Trajectory:
    """The last `keep_last` of `steps` as a Trajectory (source kind 'agent-steps'), every string redacted."""
    redactor = redactor or Redactor()
    kept = list(steps)[-keep_last:] if keep_last > 0 else []
    # Typed secrets first, so a password typed in step 3 is masked in the URL of step 4 too.
    for raw in kept:
        if isinstance(raw, Mapping) and _SECRET_TARGET.search(str(raw.get("target") or "")):
            redactor.add_secret(_clip(raw.get("value")))
    out: list[Step] = []
    for raw in kept:
        if isinstance(raw, Mapping):
            action = action_name(str(raw.get("action") or "other"))
            url = redactor.url(_clip(raw.get("url")))
            target = _clip(raw.get("target")) or (url if action == "goto" else None)  # a reported goto names its page in url
            out.append(
                Step(
                    index=len(out),
                    action=action,
                    url=url,
                    target=redactor.url(target) if action == "goto" else redactor.text(target),
                    value=redactor.text(_clip(raw.get("value"))),
                    error=redactor.text(_clip(raw.get("error"))),
                    result=redactor.text(_clip(raw.get("result"))),
                )
            )
        else:
            text = redactor.text(_clip(raw))
            out.append(Step(index=len(out), action=action_name(text.split()[0]) if text else "other", thought=text))
    first_url = start_url or next((s.url or s.target for s in out if s.url or (s.action == "goto" and s.target)), None)
    return Trajectory(
        source_kind="agent-steps",
        steps=tuple(out),
        task=redactor.text(task),
        start_url=redactor.url(first_url),
        final_answer=redactor.text(_clip(answer)),
        claimed_success=success,
    )
