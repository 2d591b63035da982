"""The one module that imports langchain-core."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from .errors import ModelError


class LangChainModel:
    """ChatModel over any langchain-core chat model. JSON is asked for in the prompt: many chat models (and the fakes)
    have no tool calling, and the caller validates what comes back anyway."""

    def __init__(self, model: BaseChatModel) -> None:
        self._model = model

    @property
    def name(self) -> str:
        ident = getattr(self._model, "model_name", None) or getattr(self._model, "model", None)
        return f"langchain:{ident or type(self._model).__name__}"

    async def complete(self, system: str, prompt: str, *, schema: dict[str, Any] | None = None) -> str:
        if schema is not None:
            prompt = f"{prompt}\n\nAnswer with one JSON object only, matching this JSON schema:\n{schema}"
        try:
            message = await self._model.ainvoke([SystemMessage(content=system), HumanMessage(content=prompt)])
        except Exception as exc:  # a provider's own error types are unknown here; the caller falls back
            raise ModelError(f"{self.name} failed: {type(exc).__name__}: {exc}") from exc
        content = message.content
        if isinstance(content, list):
            content = "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)
        return str(content)
