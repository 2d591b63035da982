"""The one module that imports langchain-core."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from webcoach.errors import ModelError
from webcoach.llm import image_data_url, note_usage


class LangChainModel:
    """ChatModel over any langchain-core chat model. JSON is asked for in the prompt: many chat models (and the fakes)
    have no tool calling, and the caller validates what comes back anyway."""

    def __init__(self, model: BaseChatModel) -> None:
        self._model = model

    @property
    def name(self) -> str:
        ident = getattr(self._model, "model_name", None) or getattr(self._model, "model", None)
        return f"langchain:{ident or type(self._model).__name__}"

    async def complete(
        self, system: str, prompt: str, *, schema: dict[str, Any] | None = None, images: Sequence[bytes] = ()
    ) -> str:
        if schema is not None:
            prompt = f"{prompt}\n\nAnswer with one JSON object only, matching this JSON schema:\n{schema}"
        human = HumanMessage(content=prompt)
        if images:
            parts: list[str | dict[str, Any]] = [{"type": "text", "text": prompt}]
            parts += [{"type": "image_url", "image_url": {"url": image_data_url(i)}} for i in images]
            human = HumanMessage(content=parts)
        try:
            message = await self._model.ainvoke([SystemMessage(content=system), human])
        except Exception as exc:  # a provider's own error types are unknown here; the caller falls back
            raise ModelError(f"{self.name} failed: {type(exc).__name__}: {exc}") from exc
        usage = getattr(message, "usage_metadata", None) or {}
        note_usage(usage.get("input_tokens"), usage.get("output_tokens"))
        content = message.content
        if isinstance(content, list):
            content = "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)
        return str(content)
