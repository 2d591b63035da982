"""The few error classes webcoach raises. Each message is one line that says how to fix the problem."""

from __future__ import annotations


class WebcoachError(Exception):
    """Base class: the CLI prints these as a one-line error and exits non-zero."""


class InputError(WebcoachError):
    """A log, trace, history or export file that cannot be read as what it claims to be."""


class StoreError(WebcoachError):
    """The episode store cannot be opened, read or written."""


class StoreLockedError(StoreError):
    """Another process holds the embedded store: embedded Chroma is single-process."""


class EmbedderMismatchError(StoreError):
    """A collection was built with a different embedder than the one requested."""


class ModelError(WebcoachError):
    """An LLM could not be reached, or returned something unusable."""


class ConfigError(WebcoachError):
    """A setting (argument or environment variable) has a value webcoach cannot use."""


class NamespaceNotFoundError(StoreError):
    """A read-only command named a namespace that does not exist (commands that only read never create one)."""

    def __init__(self, message: str, existing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.existing = existing  # the namespaces that do exist there (none: nothing is stored there at all)


class StoreUnavailableError(StoreError):
    """The Chroma server cannot be reached or did not answer in time: every further call would fail the same way."""
