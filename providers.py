"""Turn a model spec into a ChatModel: the one place that knows which adapter serves which provider.

Kept apart from `llm.py` so the adapters can import the seam's helpers without an import circle.

OpenAI-compatible servers (vLLM, SGLang, Ollama, LM Studio, a hosted OpenAI model) all speak /v1/chat/completions:
`openai:MODEL` goes to api.openai.com unless a base URL is given; `vllm:`, `sglang:` and `ollama:` default to the
URL each serves on locally.
"""

from __future__ import annotations

from webcoach.errors import ConfigError
from webcoach.llm import ChatModel, FunctionModel

# prefix -> (default base URL, environment variable holding its key; local servers take any key)
OPENAI_COMPATIBLE: dict[str, tuple[str, str]] = {
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "vllm": ("http://127.0.0.1:8000/v1", "VLLM_API_KEY"),
    "sglang": ("http://127.0.0.1:30000/v1", "SGLANG_API_KEY"),
    "ollama": ("http://127.0.0.1:11434/v1", "OLLAMA_API_KEY"),
}
SPECS = "'anthropic:MODEL', 'openai:MODEL' (with a base URL for any OpenAI-compatible server), 'vllm:MODEL', 'sglang:MODEL', 'ollama:MODEL'"


def resolve_model(spec: object, *, base_url: str | None = None, seed: int | None = None) -> ChatModel:
    """A model spec (see SPECS), a langchain-core chat model, a ChatModel, or a function of (system, prompt).
    `base_url` points an OpenAI-compatible spec at a server; `seed` is sent where the provider takes one."""
    if isinstance(spec, str):
        provider, _, model = spec.partition(":")
        if provider == "anthropic" and model:
            from webcoach.llm_anthropic import AnthropicModel

            return AnthropicModel(model)
        if provider in OPENAI_COMPATIBLE and model:
            from webcoach.llm_openai import OpenAIModel

            default_url, key_var = OPENAI_COMPATIBLE[provider]
            return OpenAIModel(model, base_url=base_url or default_url, key_var=key_var, provider=provider, seed=seed)
        raise ConfigError(f"unknown model {spec!r}: use {SPECS}, or pass a model object")
    if isinstance(spec, ChatModel):
        return spec
    if _is_langchain_model(spec):
        from webcoach.llm_langchain import LangChainModel

        return LangChainModel(spec)  # type: ignore[arg-type]
    if callable(spec):
        return FunctionModel(spec)  # type: ignore[arg-type]
    raise ConfigError(f"cannot use {type(spec).__name__} as an LLM: pass {SPECS}, a langchain-core chat model or a function")


def _is_langchain_model(obj: object) -> bool:
    return any(c.__module__.startswith("langchain_core.") and c.__name__ == "BaseChatModel" for c in type(obj).__mro__)
