"""The LLM seam webcoach's own components (LLM condenser, LLM decider, judge) talk through.

A `ChatModel` takes a system text and a prompt and returns text (JSON when a schema is given). Adapters wrap anthropic
(`llm_anthropic.py`) and any langchain-core chat model (`llm_langchain.py`); `providers.resolve_model` picks one from a
spec. `FunctionModel` makes a plain function the LLM, which is how tests and offline runs replace it. This module imports
no provider SDK and none of webcoach's components: every component may import it.
"""

from __future__ import annotations

import base64
import inspect
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from webcoach.errors import ModelError

# Tests set this to False (tests/conftest.py): a real provider request then fails loudly instead of going out.
ALLOW_MODEL_REQUESTS = True


@runtime_checkable
class ChatModel(Protocol):
    @property
    def name(self) -> str: ...

    async def complete(self, system: str, prompt: str, *, schema: dict[str, Any] | None = None) -> str: ...


@runtime_checkable
class VisionChatModel(Protocol):
    """A ChatModel that also takes images (PNG or JPEG bytes, e.g. screenshots), shown after the prompt text."""

    @property
    def name(self) -> str: ...

    async def complete(
        self, system: str, prompt: str, *, schema: dict[str, Any] | None = None, images: Sequence[bytes] = ()
    ) -> str: ...


def accepts_images(model: ChatModel) -> bool:
    """Whether `model.complete` takes the `images` keyword (every webcoach adapter does; a user's own model may not)."""
    try:
        return "images" in inspect.signature(model.complete).parameters
    except (TypeError, ValueError):
        return False


def image_media_type(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"


def image_data_url(data: bytes) -> str:
    return f"data:{image_media_type(data)};base64,{base64.b64encode(data).decode('ascii')}"


ModelFunction = Callable[[str, str], "str | Awaitable[str]"]


@dataclass
class FunctionModel:
    """The LLM is a plain (sync or async) function of (system, prompt) -> text; every call is kept in `calls`, and the
    images each call was given in `images` (one tuple per call, empty when it had none)."""

    function: ModelFunction
    model_name: str = "function"
    calls: list[tuple[str, str]] = field(default_factory=list)
    images: list[tuple[bytes, ...]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.model_name

    async def complete(
        self, system: str, prompt: str, *, schema: dict[str, Any] | None = None, images: Sequence[bytes] = ()
    ) -> str:
        self.calls.append((system, prompt))
        self.images.append(tuple(images))
        note_usage()
        result = self.function(system, prompt)
        if inspect.isawaitable(result):
            result = await result
        return str(result)


def queue_model(*responses: str | BaseException, name: str = "queue") -> FunctionModel:
    """A FunctionModel that answers with the given responses in order (an exception is raised when its turn comes)."""
    pending = list(responses)

    def answer(system: str, prompt: str) -> str:
        if not pending:
            raise ModelError("queue_model has no responses left")
        item = pending.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    return FunctionModel(answer, model_name=name)


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class UsageMeter:
    """Counts webcoach's own LLM calls by role (coach, condenser, judge) while it is active: see `metered`."""

    by_role: dict[str, Usage] = field(default_factory=dict)


# Context variables, so concurrent runs (one asyncio task each) count apart: a task inherits the meter it was started in.
_meter: ContextVar[UsageMeter | None] = ContextVar("webcoach_usage_meter", default=None)
_role: ContextVar[str] = ContextVar("webcoach_usage_role", default="other")


@contextmanager
def metered() -> Iterator[UsageMeter]:
    """Count every webcoach LLM call made in this context (and tasks started from it) into a fresh meter."""
    meter = UsageMeter()
    token = _meter.set(meter)
    try:
        yield meter
    finally:
        _meter.reset(token)


@contextmanager
def usage_role(role: str) -> Iterator[None]:
    """Attribute the LLM calls made in this context to `role`."""
    token = _role.set(role)
    try:
        yield
    finally:
        _role.reset(token)


def note_usage(prompt_tokens: int | None = None, completion_tokens: int | None = None) -> None:
    """Called by every adapter once per call, with the tokens the provider reported (None: it reported none)."""
    meter = _meter.get()
    if meter is None:
        return
    usage = meter.by_role.setdefault(_role.get(), Usage())
    usage.calls += 1
    usage.prompt_tokens += prompt_tokens or 0
    usage.completion_tokens += completion_tokens or 0


def check_requests_allowed(provider: str) -> None:
    if not ALLOW_MODEL_REQUESTS:
        raise ModelError(f"real {provider} requests are disabled here (webcoach.llm.ALLOW_MODEL_REQUESTS is False)")
