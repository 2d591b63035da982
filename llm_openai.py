"""The one module that imports openai: a ChatModel over any OpenAI-compatible /v1/chat/completions endpoint (OpenAI,
vLLM, SGLang, Ollama), as the WebCoach paper served its open models. Temperature 0 and a fixed seed by default, as
WebVoyager's judge protocol asks; token usage goes to webcoach.llm's meter."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import openai
from webcoach.errors import ConfigError, ModelError
from webcoach.llm import check_requests_allowed, image_data_url, note_usage

DEFAULT_SEED = 42


class OpenAIModel:
    """ChatModel over chat completions. With a schema, JSON output is asked for through `response_format`."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        key_var: str = "OPENAI_API_KEY",
        provider: str = "openai",
        client: openai.AsyncOpenAI | None = None,
        temperature: float = 0.0,
        seed: int | None = DEFAULT_SEED,
        max_tokens: int = 2048,
        timeout_s: float = 120.0,
    ) -> None:
        self.model = model
        self.provider = provider
        self.base_url = base_url
        self.temperature = temperature
        self.seed = DEFAULT_SEED if seed is None else seed
        self.max_tokens = max_tokens
        self._injected = client is not None
        if client is None:
            key = api_key or os.environ.get(key_var)
            hosted = base_url is None or "api.openai.com" in base_url
            if not key and hosted:
                raise ConfigError(f"Set the {key_var} environment variable to use {provider}:{model} (or pass a base URL)")
            # Local servers (vLLM, SGLang, Ollama) accept any key, but the client insists on one.
            client = openai.AsyncOpenAI(base_url=base_url, api_key=key or "EMPTY", timeout=timeout_s, max_retries=2)
        self._client = client

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}"

    async def complete(
        self, system: str, prompt: str, *, schema: dict[str, Any] | None = None, images: Sequence[bytes] = ()
    ) -> str:
        if not self._injected and not _is_local(self.base_url):
            check_requests_allowed(self.provider)
        content: Any = prompt
        if images:
            content = [{"type": "text", "text": prompt}]
            content += [{"type": "image_url", "image_url": {"url": image_data_url(i)}} for i in images]
        kwargs: dict[str, Any] = {}
        if schema is not None:
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": content}],
                temperature=self.temperature,
                seed=self.seed,
                max_tokens=self.max_tokens,
                **kwargs,
            )
        except openai.OpenAIError as exc:
            raise ModelError(f"{self.name} request failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
        prompt_tokens = response.usage.prompt_tokens if response.usage is not None else None
        completion_tokens = response.usage.completion_tokens if response.usage is not None else None
        note_usage(prompt_tokens, completion_tokens)
        if not response.choices or not response.choices[0].message.content:
            raise ModelError(f"{self.name} returned an empty answer")
        text = response.choices[0].message.content
        if schema is not None:
            text = _strip_fence(text)
            try:
                json.loads(text)
            except json.JSONDecodeError:
                raise ModelError(f"{self.name} did not answer with JSON") from None
        return text


def _strip_fence(text: str) -> str:
    """Some servers wrap JSON in a Markdown fence even when asked for JSON."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0]
    return stripped.strip()


def _is_local(url: str | None) -> bool:
    """A server on this machine is not a 'real provider request' (tests run a fake one on 127.0.0.1)."""
    return bool(url) and any(host in str(url) for host in ("://127.0.0.1", "://localhost", "://[::1]"))
