"""Turn a model spec into a ChatModel: the one place that knows which adapter serves which provider.

Kept apart from `llm.py` so the adapters can import the seam's helpers without an import circle.
"""

from __future__ import annotations

from webcoach.errors import ConfigError
from webcoach.llm import ChatModel, FunctionModel


def resolve_model(spec: object) -> ChatModel:
    """'anthropic:MODEL', a langchain-core chat model, a ChatModel, or a function of (system, prompt)."""
    if isinstance(spec, str):
        provider, _, model = spec.partition(":")
        if provider == "anthropic" and model:
            from webcoach.llm_anthropic import AnthropicModel

            return AnthropicModel(model)
        raise ConfigError(
            f"unknown model {spec!r}: use 'anthropic:MODEL_NAME' (e.g. anthropic:claude-sonnet-4-5) or pass a model object"
        )
    if isinstance(spec, ChatModel):
        return spec
    if _is_langchain_model(spec):
        from webcoach.llm_langchain import LangChainModel

        return LangChainModel(spec)  # type: ignore[arg-type]
    if callable(spec):
        return FunctionModel(spec)  # type: ignore[arg-type]
    raise ConfigError(
        f"cannot use {type(spec).__name__} as an LLM: pass 'anthropic:MODEL', a langchain-core chat model or a function"
    )


def _is_langchain_model(obj: object) -> bool:
    return any(c.__module__.startswith("langchain_core.") and c.__name__ == "BaseChatModel" for c in type(obj).__mro__)
