"""webcoach: cross-session memory for browser agents.

    from webcoach import condense, EpisodeStore, Coach, run_coached
    store = EpisodeStore()
    store.add(condense("trace.zip", task="Find a vegetarian lasagna recipe"))
    history = await run_coached(agent, Coach(store), max_steps=30)   # a browser-use Agent, coached and stored

Heavy modules (chromadb, browser-use) load on first use of the name that needs them, so importing webcoach is cheap
and has no side effects.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "condense": "webcoach.condenser.condense",
    "condense_all": "webcoach.condenser.condense",
    "load_trajectory": "webcoach.condenser.sources",
    "Episode": "webcoach.condenser.episode",
    "Outcome": "webcoach.condenser.episode",
    "FailureMode": "webcoach.condenser.episode",
    "Trajectory": "webcoach.condenser.trajectory",
    "Step": "webcoach.condenser.trajectory",
    "Redactor": "webcoach.condenser.redact",
    "EpisodeStore": "webcoach.memory.store",
    "Hit": "webcoach.memory.store",
    "FunctionModel": "webcoach.llm",
    "queue_model": "webcoach.llm",
    "ChatModel": "webcoach.llm",
    "WebcoachError": "webcoach.errors",
    "InputError": "webcoach.errors",
    "StoreError": "webcoach.errors",
    "StoreLockedError": "webcoach.errors",
    "StoreUnavailableError": "webcoach.errors",
    "NamespaceNotFoundError": "webcoach.errors",
    "EmbedderMismatchError": "webcoach.errors",
    "ModelError": "webcoach.errors",
    "ConfigError": "webcoach.errors",
    "Coach": "webcoach.coach.coach",
    "CoachConfig": "webcoach.coach.coach",
    "Advice": "webcoach.coach.advice",
    "RetrievalWeights": "webcoach.memory.ranking",
    "run_coached": "webcoach.hooks.browser_use",
    "CoachingSession": "webcoach.hooks.browser_use",
    "watch": "webcoach.hooks.playwright",
}

__all__ = [
    "Advice",
    "ChatModel",
    "Coach",
    "CoachConfig",
    "CoachingSession",
    "ConfigError",
    "EmbedderMismatchError",
    "Episode",
    "EpisodeStore",
    "FailureMode",
    "FunctionModel",
    "Hit",
    "InputError",
    "ModelError",
    "NamespaceNotFoundError",
    "Outcome",
    "Redactor",
    "RetrievalWeights",
    "Step",
    "StoreError",
    "StoreLockedError",
    "StoreUnavailableError",
    "Trajectory",
    "WebcoachError",
    "__version__",
    "condense",
    "condense_all",
    "load_trajectory",
    "queue_model",
    "run_coached",
    "watch",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'webcoach' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from webcoach.coach.advice import Advice
    from webcoach.coach.coach import Coach, CoachConfig
    from webcoach.condenser.condense import condense, condense_all
    from webcoach.condenser.episode import Episode, FailureMode, Outcome
    from webcoach.condenser.redact import Redactor
    from webcoach.condenser.sources import load_trajectory
    from webcoach.condenser.trajectory import Step, Trajectory
    from webcoach.errors import (
        ConfigError,
        EmbedderMismatchError,
        InputError,
        ModelError,
        StoreError,
        StoreLockedError,
        WebcoachError,
    )
    from webcoach.hooks.browser_use import CoachingSession, run_coached
    from webcoach.hooks.playwright import watch
    from webcoach.llm import ChatModel, FunctionModel, queue_model
    from webcoach.memory.ranking import RetrievalWeights
    from webcoach.memory.store import EpisodeStore, Hit
