"""The one module that imports anthropic."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from typing import Any

import anthropic
from webcoach.errors import ConfigError, ModelError
from webcoach.llm import check_requests_allowed, image_media_type, note_usage


class AnthropicModel:
    """ChatModel over the Messages API. With a schema, the answer is forced through a tool so it comes back as JSON."""

    def __init__(
        self,
        model: str,
        *,
        client: anthropic.AsyncAnthropic | None = None,
        max_tokens: int = 2048,
        timeout_s: float = 60.0,
        temperature: float | None = 0.0,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        # 0, as every webcoach role (coach, condenser, judge) is documented to run. This SDK's create() has no
        # temperature argument, so it goes in the request body; a model that refuses it is asked again without it,
        # and `temperature` then says None (run.json records what was really sent).
        self.temperature = temperature
        self._injected = client is not None
        if client is None:
            if not os.environ.get("ANTHROPIC_API_KEY"):
                raise ConfigError("Set the ANTHROPIC_API_KEY environment variable to use an anthropic: model")
            client = anthropic.AsyncAnthropic(timeout=timeout_s, max_retries=2)
        self._client = client

    @property
    def name(self) -> str:
        return f"anthropic:{self.model}"

    async def _create(self, system: str, content: Any, kwargs: dict[str, Any]) -> Any:
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": system,
            "messages": [{"role": "user", "content": content}],
            **kwargs,
        }
        if self.temperature is None:
            return await self._client.messages.create(**request)
        try:
            return await self._client.messages.create(**request, extra_body={"temperature": self.temperature})
        except anthropic.BadRequestError as exc:
            if "temperature" not in str(exc).lower():
                raise
            self.temperature = None  # this model takes no sampling settings: say so rather than fail every call
            return await self._client.messages.create(**request)

    async def complete(
        self, system: str, prompt: str, *, schema: dict[str, Any] | None = None, images: Sequence[bytes] = ()
    ) -> str:
        if not self._injected:
            check_requests_allowed("anthropic")
        kwargs: dict[str, Any] = {}
        if schema is not None:
            kwargs["tools"] = [{"name": "answer", "description": "Give the answer.", "input_schema": schema}]
            kwargs["tool_choice"] = {"type": "tool", "name": "answer"}
        content: Any = prompt  # text, or text then images
        if images:
            content = [{"type": "text", "text": prompt}] + [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": image_media_type(i), "data": base64.b64encode(i).decode("ascii")},
                }
                for i in images
            ]
        try:
            message = await self._create(system, content, kwargs)
        except anthropic.APIError as exc:
            raise ModelError(f"anthropic request failed: {type(exc).__name__}: {exc}") from exc
        usage = getattr(message, "usage", None)
        note_usage(getattr(usage, "input_tokens", None), getattr(usage, "output_tokens", None))
        for block in message.content:
            if block.type == "tool_use":
                return json.dumps(block.input)
        text = "".join(block.text for block in message.content if block.type == "text")
        if not text:
            raise ModelError("anthropic returned an empty answer")
        return text
