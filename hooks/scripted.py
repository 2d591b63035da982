"""A scripted browser-use chat model: drives a real browser-use Agent with no LLM, for tests and the offline demo.

The script says which actions to take at each step, in browser-use's own action JSON::

    ScriptedLLM([
        [{"navigate": {"url": f"{site}/shop/index.html"}}],
        [{"click": {"text": "Catalog"}}],                      # resolved against the page to an element index
        [{"input": {"target": "Title or author", "text": "dune"}}, {"send_keys": {"keys": "Enter"}}],
        [{"done": {"text": "Foundation", "success": True}}],
    ])

Element indices change with every page, so an action may name its element by `target` (visible text, an attribute
value such as an id/name/placeholder/aria-label, or `key=value` like `type=password`) instead of `index`; a click
may also say `text`. The model looks the element up in the `[index]<tag ...>` list of the browser state it was sent.
Every prompt is recorded in `.prompts`, so a test can assert what reached the LLM.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel
from webcoach.errors import ModelError

if TYPE_CHECKING:
    # Imported lazily at run time: importing browser_use patches asyncio and may set up logging.
    from browser_use.llm.messages import BaseMessage
    from browser_use.llm.views import ChatInvokeCompletion

T = TypeVar("T", bound=BaseModel)

Action = Mapping[str, Any]
# One step: its actions, or {"action": [...], "thinking"/"evaluation_previous_goal"/"memory"/"next_goal": "..."}.
ScriptStep = Sequence[Action] | Mapping[str, Any]
ScriptFn = Callable[[list["BaseMessage"], int], "ScriptStep | None"]

_BRAIN_FIELDS = ("thinking", "evaluation_previous_goal", "memory", "next_goal")
_ELEMENT = re.compile(r"\[(\d+)\]<([A-Za-z][\w-]*)([^>]*?)/?>")
_ATTR_KEY = re.compile(r"(?:^|\s)([A-Za-z_:][\w:.-]*)=")


@dataclass(frozen=True, kw_only=True)
class PageElement:
    """One interactive element as browser-use shows it to the LLM: `[index]<tag attr=value ... />` and its text."""

    index: int
    tag: str
    attributes: dict[str, str] = field(default_factory=dict)
    text: str = ""


def prompt_text(messages: Sequence[BaseMessage]) -> str:
    """The text of a list of browser-use messages, images left out."""
    parts: list[str] = []
    for message in messages:
        text = getattr(message, "text", None)
        if isinstance(text, str):
            parts.append(text)
        elif isinstance(message.content, str):
            parts.append(message.content)
    return "\n\n".join(parts)


def page_elements(prompt: str) -> list[PageElement]:
    """The interactive elements of the last `<browser_state>` block in a prompt, in page order."""
    start = prompt.rfind("<browser_state>")
    if start < 0:
        return []
    end = prompt.find("</browser_state>", start)
    lines = prompt[start : end if end > 0 else len(prompt)].splitlines()
    elements: list[PageElement] = []
    for position, line in enumerate(lines):
        found = _ELEMENT.search(line)
        if not found:
            continue
        depth = len(line) - len(line.lstrip("\t"))
        text: list[str] = []
        for follower in lines[position + 1 :]:
            # browser-use puts an element's own text on the following lines, one tab deeper than the element.
            if _ELEMENT.search(follower) or len(follower) - len(follower.lstrip("\t")) <= depth:
                break
            text.append(follower.strip())
        elements.append(
            PageElement(
                index=int(found.group(1)),
                tag=found.group(2).lower(),
                attributes=_attributes(found.group(3)),
                text=" ".join(t for t in text if t),
            )
        )
    return elements


def _attributes(raw: str) -> dict[str, str]:
    """`id=q name=q placeholder=Title or author` -> dict; values may hold spaces, so split on the keys."""
    keys = list(_ATTR_KEY.finditer(raw))
    out: dict[str, str] = {}
    for position, key in enumerate(keys):
        end = keys[position + 1].start() if position + 1 < len(keys) else len(raw)
        out[key.group(1).lower()] = raw[key.end() : end].strip()
    return out


def find_element(elements: Sequence[PageElement], target: str) -> PageElement | None:
    """Exact visible text, then `key=value` or an exact attribute value, then visible text containing `target`
    (all case-insensitive); the first in page order wins."""
    wanted = " ".join(target.split()).lower()
    for element in elements:
        if element.text.lower() == wanted:
            return element
    key, sep, value = wanted.partition("=")
    for element in elements:
        if sep and element.attributes.get(key.strip(), "").lower() == value.strip():
            return element
        if any(v.lower() == wanted for v in element.attributes.values()):
            return element
    for element in elements:
        if wanted and wanted in element.text.lower():
            return element
    return None


class ScriptedLLM:
    """browser-use's BaseChatModel Protocol, answered from a script instead of an LLM.

    `script`: a list of steps (each a list of action dicts, or a dict with "action" and the brain fields), or a
    function (messages, step_no) -> a step, or None to stop; step_no counts the agent's LLM calls from 0.
    When the script runs out the model answers done(success=False). `extract(prompt) -> str` answers browser-use's
    page-extraction calls (by default: the page content it was sent); `structured` holds canned answers for other
    structured calls, by output model name (e.g. {"JudgementResult": {"verdict": False, "failure_reason": "..."}}).
    """

    _verified_api_keys: bool = True  # part of the Protocol; there is no API key to check

    def __init__(
        self,
        script: Sequence[ScriptStep] | ScriptFn,
        *,
        model: str = "webcoach-scripted",
        extract: Callable[[str], str] | None = None,
        structured: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        if not callable(script):
            for step in script:  # a typo in a fixed script should fail here, not halfway through a browser run
                for action in step.get("action") or [] if isinstance(step, Mapping) else step:
                    _check_action(action)
        self.model = model
        self._script = script
        self._extract = extract or _default_extract
        self._structured = dict(structured or {})
        self.prompts: list[str] = []
        self.misses: list[str] = []  # targets the model could not find on the page
        self.steps_taken = 0

    @property
    def provider(self) -> str:
        return "webcoach"

    @property
    def name(self) -> str:
        return self.model

    @property
    def model_name(self) -> str:
        return self.model

    @classmethod
    def __get_pydantic_core_schema__(cls, source_type: Any, handler: Any) -> Any:
        """Part of the Protocol: lets pydantic models (browser-use's settings) hold this model as any object."""
        from pydantic_core import core_schema

        return core_schema.any_schema()

    @overload
    async def ainvoke(
        self, messages: list[BaseMessage], output_format: None = None, **kwargs: Any
    ) -> ChatInvokeCompletion[str]: ...

    @overload
    async def ainvoke(self, messages: list[BaseMessage], output_format: type[T], **kwargs: Any) -> ChatInvokeCompletion[T]: ...

    async def ainvoke(
        self, messages: list[BaseMessage], output_format: type[T] | None = None, **kwargs: Any
    ) -> ChatInvokeCompletion[T] | ChatInvokeCompletion[str]:
        from browser_use.llm.views import ChatInvokeCompletion

        prompt = prompt_text(messages)
        self.prompts.append(prompt)
        if output_format is None:
            return ChatInvokeCompletion(completion=self._extract(prompt), usage=None)
        if "action" in output_format.model_fields:
            step_no = self.steps_taken
            self.steps_taken += 1
            brain, actions = self._next(messages, step_no, prompt)
            return ChatInvokeCompletion(completion=output_format.model_validate({**brain, "action": actions}), usage=None)
        canned = self._structured.get(output_format.__name__)
        if canned is None:
            raise ModelError(
                f"ScriptedLLM has no answer for a {output_format.__name__} request: pass "
                f"structured={{{output_format.__name__!r}: {{...}}}} (or use_judge=False for the judge)"
            )
        return ChatInvokeCompletion(completion=output_format.model_validate(dict(canned)), usage=None)

    def _next(self, messages: list[BaseMessage], step_no: int, prompt: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
        if callable(self._script):
            step = self._script(messages, step_no)
        else:
            step = self._script[step_no] if step_no < len(self._script) else None
        if step is None:
            return _stop(step_no, f"ScriptedLLM: script ended after {step_no} steps without finishing the task")
        if isinstance(step, Mapping):
            raw_actions = step.get("action") or []
            given = {key: str(step[key]) for key in _BRAIN_FIELDS if step.get(key)}
        else:
            raw_actions, given = step, {}
        elements = page_elements(prompt)
        actions: list[dict[str, Any]] = []
        for raw in raw_actions:
            resolved, missing = _resolve(raw, elements)
            if missing is not None:
                self.misses.append(missing)
                return _stop(step_no, f"ScriptedLLM: no element matching {missing!r} on the page at step {step_no + 1}")
            actions.append(resolved)
        if not actions:
            return _stop(step_no, f"ScriptedLLM: step {step_no + 1} of the script has no actions")
        goal = "; ".join(_describe(a) for a in raw_actions)
        brain = {
            "thinking": f"Scripted step {step_no + 1}: {goal}.",
            "evaluation_previous_goal": "Previous step done as scripted." if step_no else "Starting the scripted run.",
            "memory": f"Scripted run, step {step_no + 1}.",
            "next_goal": goal,
        }
        return {**brain, **given}, actions


def _resolve(action: Action, elements: Sequence[PageElement]) -> tuple[dict[str, Any], str | None]:
    """Replace a `target` (or a click's `text`) by the element index it names; (action, unresolved target)."""
    _check_action(action)
    name, params = next(iter(action.items()))
    if not isinstance(params, Mapping):
        return {name: params}, None
    out = dict(params)
    target = out.pop("target", None)
    if target is None and name == "click" and "index" not in out and "coordinate_x" not in out:
        target = out.pop("text", None)
    if target is not None and "index" not in out:
        element = find_element(elements, str(target))
        if element is None:
            return {name: out}, str(target)
        out["index"] = element.index
    return {name: out}, None


def _check_action(action: object) -> None:
    if not isinstance(action, Mapping) or len(action) != 1:
        raise ModelError(f"a scripted action is one {{name: params}} dict, like {{'click': {{'index': 3}}}}; got {action!r}")


def _describe(action: Action) -> str:
    """A next_goal line for the history; never the typed text, which may be a password."""
    name, params = next(iter(action.items()))
    if not isinstance(params, Mapping):
        return str(name)
    where = params.get("target") or (params.get("text") if name == "click" else None)
    if where is None and params.get("index") is not None:
        where = f"element {params['index']}"
    if name == "navigate" and params.get("url"):
        return f"navigate to {params['url']}"
    if name == "done":
        return "finish: " + ("success" if params.get("success") else "failure")
    if where is None:
        where = params.get("keys") or params.get("query")
    return f"{name} {where!r}" if where is not None else str(name)


def _stop(step_no: int, reason: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    brain = {"thinking": reason, "evaluation_previous_goal": reason, "memory": reason, "next_goal": "Stop: " + reason}
    return brain, [{"done": {"text": reason, "success": False}}]


def _default_extract(prompt: str) -> str:
    """Echo the page content browser-use sent for extraction: enough for a scripted run to 'read' a page."""
    found = re.search(r"<webpage_content>\s*(.*?)\s*</webpage_content>", prompt, re.DOTALL)
    return (found.group(1) if found else prompt)[:4000]
