"""Read a browser-use history (the JSON `AgentHistoryList.save_to_file` writes, or a live AgentHistoryList) into a
redacted Trajectory: one Step per action, with the URL the step began on, its error and the agent's own reasoning.

browser-use is not imported here: a live history is read through its `model_dump()`, the same dict the file holds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from webcoach.condenser.incidents import says_not_done
from webcoach.condenser.redact import Redactor
from webcoach.condenser.secrets import secret_field
from webcoach.condenser.trajectory import Step, Trajectory
from webcoach.errors import InputError

SUPPORTED = "browser-use 0.1.8 to 0.13 (AgentHistoryList.save_to_file)"

# browser-use action names, current and older spellings, onto the canonical names in trajectory.ACTIONS.
_ACTION_MAP = {
    "navigate": "goto",
    "go_to_url": "goto",
    "open_tab": "goto",
    "search": "other",
    "click": "click",
    "click_element": "click",
    "click_element_by_index": "click",
    "input": "fill",
    "input_text": "fill",
    "send_keys": "press",
    "scroll": "scroll",
    "scroll_down": "scroll",
    "scroll_up": "scroll",
    "find_text": "scroll",
    "scroll_to_text": "scroll",
    "extract": "extract",
    "extract_content": "extract",
    "extract_page_content": "extract",
    "extract_structured_data": "extract",
    "go_back": "back",
    "switch": "tab",
    "switch_tab": "tab",
    "close": "tab",
    "close_tab": "tab",
    "select_dropdown": "select",
    "select_dropdown_option": "select",
    "upload_file": "upload",
    "wait": "wait",
    "done": "done",
}
_FILL_ACTIONS = frozenset(name for name, canonical in _ACTION_MAP.items() if canonical == "fill")
_PLACEHOLDER = re.compile(r"^\s*(?:<secret>[^<]*</secret>\s*)+$")
# autocomplete tokens that mark a field as secret even when its type is not "password"
_SECRET_AUTOCOMPLETE = frozenset({"current-password", "new-password", "one-time-code", "cc-number", "cc-csc"})
_TARGET_ATTRS = ("id", "name", "type", "placeholder", "aria-label", "title", "href")
# browser-use 0.13 reports these failed actions as content, not as `error`; a condenser must still see them fail.
_SOFT_FAILURE = re.compile(r"^(Element index \d+ not available|Text '.*' not found or not visible on page)", re.DOTALL)
_EXTRACT_RESULT = re.compile(r"<(structured_result|result)>\s*(.*?)\s*</\1>\s*$", re.DOTALL)
_USER_REQUEST = re.compile(r"<user_request>\s*(.*?)\s*</user_request>", re.DOTALL)

_MAX_THOUGHT = 240
_MAX_ERROR = 400
_MAX_TARGET = 200
_MAX_RESULT = 4000


def parse_history(data: Mapping[str, Any] | object, redactor: Redactor, *, source: str | None = None) -> Trajectory:
    """`data`: the dict `AgentHistoryList.save_to_file` writes ({"history": [...]}) or a live AgentHistoryList.
    Every string in the result has been through `redactor`, after the values typed into password fields were added
    to it. Raises InputError (one line) for anything that is not such a history."""
    name = source or "browser-use history"
    raw = _as_dict(data, name)
    items: list[Any] = [_early_shape(item) for item in _items(raw, name)]
    for position, item in enumerate(items, start=1):
        _check_item(item, position, name)

    # Secrets first, from the whole history: a password typed at step 5 can also show up elsewhere (a URL after a
    # GET form, an earlier error message), and every string below is redacted as it is built.
    item_actions = [_actions(item) for item in items]
    for actions in item_actions:
        for action_name, params, element in actions:
            if action_name in _FILL_ACTIONS and _is_secret_field(element):
                text = params.get("text")
                if isinstance(text, str) and not _PLACEHOLDER.match(text):
                    redactor.add_secret(text)

    steps: list[Step] = []
    final_answer: str | None = None
    claimed_success: bool | None = None
    judgement: Mapping[str, Any] | None = None
    timings = [_timing(item.get("metadata")) for item in items]
    for item, actions, (started_at, duration, _) in zip(items, item_actions, timings, strict=True):
        state = item.get("state") or {}
        url = _page_url(state.get("url"))
        thought = _thought(item.get("model_output"))
        results = [r if isinstance(r, Mapping) else {} for r in item.get("result") or []]
        if results and len(actions) > len(results):
            # browser-use stops an action sequence after a navigation or an error: the rest never ran.
            actions = actions[: len(results)]
        for position in range(max(len(actions), len(results))):
            action_name, params, element = actions[position] if position < len(actions) else ("", {}, None)
            result: Mapping[str, Any] = results[position] if position < len(results) else {}
            canonical = _ACTION_MAP.get(action_name, "other")
            extracted = result.get("extracted_content")
            if result.get("is_done") is True:
                final_answer = _clean(redactor, extracted, _MAX_RESULT)
                success = result.get("success")
                # browser-use before 0.1.3x had no success flag: the agent's final words are its claim.
                claimed_success = success if isinstance(success, bool) else _claim_in(final_answer)
            if isinstance(result.get("judgement"), Mapping):
                judgement = result["judgement"]
            first = position == 0
            steps.append(
                Step(
                    index=len(steps),
                    action=canonical,
                    url=redactor.url(url),
                    target=_target(action_name, canonical, params, element, redactor),
                    value=_clean(redactor, _value(action_name, canonical, params), _MAX_RESULT),
                    error=_clean(redactor, _error(result), _MAX_ERROR, squeeze=True),
                    thought=_clean(redactor, thought, _MAX_THOUGHT, squeeze=True) if first else None,
                    result=_clean(redactor, _extracted(extracted), _MAX_RESULT) if canonical in ("extract", "done") else None,
                    started_at=started_at,
                    duration_s=duration if first else None,
                )
            )
    if not steps:
        raise InputError(f"{name}: the history has items but no actions or results: nothing to condense")

    starts = [start for start, _, _ in timings if start is not None]
    last_end = max((end for _, _, end in timings if end is not None), default=None)
    judge_success, judge_reason = _judgement(judgement, redactor)
    return Trajectory(
        source_kind="browser-use-history",
        steps=tuple(steps),
        task=_clean(redactor, _task(raw, items), _MAX_RESULT),
        start_url=redactor.url(_start_url(items)),
        final_answer=final_answer,
        claimed_success=claimed_success,
        judge_success=judge_success,
        judge_reason=judge_reason,
        started_at=min(starts) if starts else None,
        duration_s=round(last_end - min(starts), 3) if starts and last_end is not None else None,
        source=source,
    )


def _claim_in(text: str | None) -> bool | None:
    return None if not text else not says_not_done(text)


def _early_shape(item: object) -> object:
    """browser-use 0.1.8-0.1.2x wrote one action and one result per step as objects, not lists."""
    if not isinstance(item, Mapping):
        return item
    out = dict(item)
    if isinstance(out.get("result"), Mapping):
        out["result"] = [out["result"]]
    output = out.get("model_output")
    if isinstance(output, Mapping) and isinstance(output.get("action"), Mapping):
        out["model_output"] = {**output, "action": [output["action"]]}
    return out


def _as_dict(data: object, name: str) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    dump = getattr(data, "model_dump", None)
    if hasattr(data, "history") and callable(dump):
        dumped = dump()
        if isinstance(dumped, Mapping):
            return dumped
    raise InputError(f"{name}: expected a browser-use history dict or AgentHistoryList, got {type(data).__name__}")


def _items(data: Mapping[str, Any], name: str) -> list[Any]:
    if "history" not in data:
        raise InputError(f"{name}: no 'history' key: not a browser-use history file ({SUPPORTED})")
    items = data["history"]
    if not isinstance(items, list):
        raise InputError(f"{name}: 'history' is a {type(items).__name__}, expected a list of steps ({SUPPORTED})")
    if not items:
        raise InputError(f"{name}: no steps: the history is empty (did the agent run?)")
    return items


def _check_item(item: object, position: int, name: str) -> None:
    if not isinstance(item, Mapping):
        raise InputError(f"{name}: history item {position} is a {type(item).__name__}, expected an object")
    missing = [key for key in ("model_output", "result", "state") if key not in item]
    if missing:
        raise InputError(
            f"{name}: history item {position} lacks {', '.join(missing)}: unsupported format; "
            f"webcoach reads histories written by {SUPPORTED}"
        )
    shapes = {"model_output": (Mapping, type(None)), "result": (list,), "state": (Mapping,)}
    for key, allowed in shapes.items():
        if not isinstance(item[key], allowed):
            raise InputError(
                f"{name}: history item {position} has a {type(item[key]).__name__} '{key}': unsupported format; "
                f"webcoach reads histories written by {SUPPORTED}"
            )


def _actions(item: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], Mapping[str, Any] | None]]:
    """(name, params, interacted element) per action; the element list runs parallel to the actions."""
    output = item.get("model_output")
    raw = output.get("action") if isinstance(output, Mapping) else None
    if not isinstance(raw, list):
        return []
    elements = (item.get("state") or {}).get("interacted_element")
    elements = elements if isinstance(elements, list) else []
    out: list[tuple[str, Mapping[str, Any], Mapping[str, Any] | None]] = []
    for position, action in enumerate(raw):
        name: str = ""
        params: Mapping[str, Any] = {}
        if isinstance(action, Mapping) and action:
            name = str(next(iter(action)))
            value = action[name]
            params = value if isinstance(value, Mapping) else {}
        element = elements[position] if position < len(elements) else None
        out.append((name, params, element if isinstance(element, Mapping) else None))
    return out


def _is_secret_field(element: Mapping[str, Any] | None) -> bool:
    attributes = element.get("attributes") if element else None
    if not isinstance(attributes, Mapping):
        return bool(element) and secret_field(element.get("ax_name") if element else None)
    kind = str(attributes.get("type") or "").lower()
    autocomplete = set(str(attributes.get("autocomplete") or "").lower().split())
    if kind == "password" or bool(autocomplete & _SECRET_AUTOCOMPLETE):
        return True
    # A field that says what it is for by name, id, label, placeholder or accessible name (an OTP box is often type=text).
    names = [attributes.get(k) for k in ("name", "id", "placeholder", "aria-label", "title", "label")]
    return secret_field(*names, element.get("ax_name") if element else None)


def _target(
    action_name: str,
    canonical: str,
    params: Mapping[str, Any],
    element: Mapping[str, Any] | None,
    redactor: Redactor,
) -> str | None:
    """A short element description: `[index] tag "accessible name" id=.. name=..`, or the URL of a goto."""
    if canonical == "goto" and isinstance(params.get("url"), str):
        return _clip(redactor.url(params["url"]) or "", _MAX_TARGET)
    if canonical == "tab" and params.get("tab_id") is not None:
        return _clean(redactor, f"tab {params['tab_id']}", _MAX_TARGET)
    if canonical == "other":
        return action_name or None
    index = params.get("index")
    parts: list[str] = [f"[{index}]"] if isinstance(index, int) else []
    if element:
        tag = str(element.get("node_name") or "").lower()
        if tag:
            parts.append(tag)
        text = _clean(redactor, element.get("ax_name"), 60, squeeze=True)
        if text:
            parts.append(f'"{text}"')
        attributes = element.get("attributes")
        if isinstance(attributes, Mapping):
            for key in _TARGET_ATTRS:
                value = attributes.get(key)
                if isinstance(value, str) and value:
                    shown = redactor.url(value) if key == "href" else value
                    parts.append(f"{key}={_clean(redactor, shown, 60, squeeze=True)}")
    return _clip(" ".join(parts), _MAX_TARGET) if parts else None


def _value(action_name: str, canonical: str, params: Mapping[str, Any]) -> str | None:
    keys = {
        "fill": ("text",),
        "select": ("text",),
        "press": ("keys",),
        "extract": ("query",),
        "upload": ("path",),
        "wait": ("seconds",),
        "scroll": ("text",),
        "other": ("query", "text", "pattern", "selector", "file_name", "code"),
    }.get(canonical, ())
    for key in keys:
        value = params.get(key)
        if value is not None and value != "":
            return str(value)
    if canonical == "scroll" and action_name in ("scroll", "scroll_down", "scroll_up"):
        down = params.get("down", action_name != "scroll_up")
        pages = params.get("pages")
        return f"{'down' if down else 'up'}" + (f" {pages} pages" if pages is not None else "")
    if canonical == "tab":
        return "close" if action_name.startswith("close") else "switch"
    return None


def _error(result: Mapping[str, Any]) -> str | None:
    error = result.get("error")
    if isinstance(error, str) and error.strip():
        return error
    content = result.get("extracted_content")
    return content if isinstance(content, str) and _SOFT_FAILURE.match(content) else None


def _extracted(content: object) -> str | None:
    """An extract result without browser-use's <url>/<query> wrapper (the step already has both)."""
    if not isinstance(content, str):
        return None
    found = _EXTRACT_RESULT.search(content)
    return found.group(2) if found else content


def _thought(output: object) -> str | None:
    if not isinstance(output, Mapping):
        return None
    brain = output.get("current_state")  # browser-use <= 0.1 nested the brain fields
    fields = brain if isinstance(brain, Mapping) else output
    for key in ("next_goal", "thinking", "evaluation_previous_goal"):
        text = fields.get(key)
        if isinstance(text, str) and text.strip():
            return text
    return None


def _judgement(judgement: Mapping[str, Any] | None, redactor: Redactor) -> tuple[bool | None, str | None]:
    """browser-use 0.13's judge attaches `judgement` {verdict, reasoning, failure_reason, ...} to the final result."""
    if judgement is None:
        return None, None
    verdict = judgement.get("verdict")
    reason = judgement.get("failure_reason") or judgement.get("reasoning")
    return verdict if isinstance(verdict, bool) else None, _clean(redactor, reason, _MAX_ERROR, squeeze=True)


def _task(data: Mapping[str, Any], items: list[Any]) -> str | None:
    """The file may carry `task`; browser-use's own files do not, but each item's state_message quotes the request."""
    task = data.get("task")
    if isinstance(task, str) and task.strip():
        return task.strip()
    for item in items:
        message = item.get("state_message")
        if isinstance(message, str):
            found = _USER_REQUEST.search(message)
            if found and found.group(1):
                return found.group(1)
    return None


def _start_url(items: list[Any]) -> str | None:
    for item in items:
        url = (item.get("state") or {}).get("url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return url
    for item in items:  # a run that navigated and finished within one step never shows an http page in its states
        for _, params, _ in _actions(item):
            url = params.get("url")
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                return url
    return None


def _page_url(url: object) -> str | None:
    """The page a step began on; Chrome's own pages (new tab, about:blank) mean there was none yet."""
    if not isinstance(url, str) or not url or url == "about:blank" or url.startswith("chrome://"):
        return None
    return url


def _timing(metadata: object) -> tuple[float | None, float | None, float | None]:
    """(start, duration, end) of a step, each None when missing or not a number."""
    if not isinstance(metadata, Mapping):
        return None, None, None
    start = _number(metadata.get("step_start_time"))
    end = _number(metadata.get("step_end_time"))
    return start, (round(end - start, 3) if start is not None and end is not None else None), end


def _number(value: object) -> float | None:
    # Finite only: Python's json reads NaN and Infinity, and one of them would poison every sum and round().
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _clean(redactor: Redactor, text: object, limit: int, *, squeeze: bool = False) -> str | None:
    """Redact first, then squeeze and clip: clipping first could cut a secret in half and hide it from the redactor."""
    if not isinstance(text, str) or not text.strip():
        return None
    out = redactor.text(text) or ""
    if squeeze:
        out = " ".join(out.split())
    return _clip(out, limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
