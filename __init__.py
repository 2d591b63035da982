"""webcoach: cross-session memory for browser agents.

    from webcoach import condense, EpisodeStore, Coach
    store = EpisodeStore()
    store.add(condense("trace.zip", task="Find a vegetarian lasagna recipe"))
    coach = Coach(store)

Heavy modules (chromadb, browser-use) load on first use of the name that needs them, so importing webcoach is cheap
and has no side effects.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "condense": "webcoach.condenser.condense",
    "load_trajectory": "webcoach.condenser.sources",
    "Episode": "webcoach.condenser.episode",
    "Outcome": "webcoach.condenser.episode",
    "FailureMode": "webcoach.condenser.episode",
    "Trajectory": "webcoach.condenser.trajectory",
    "Step": "webcoach.condenser.trajectory",
    "Redactor": "webcoach.condenser.redact",
    "EpisodeStore": "webcoach.condenser.store",
    "Hit": "webcoach.condenser.store",
    "FunctionModel": "webcoach.condenser.models",
    "queue_model": "webcoach.condenser.models",
    "ChatModel": "webcoach.condenser.models",
    "WebcoachError": "webcoach.condenser.errors",
    "InputError": "webcoach.condenser.errors",
    "StoreError": "webcoach.condenser.errors",
    "StoreLockedError": "webcoach.condenser.errors",
    "EmbedderMismatchError": "webcoach.condenser.errors",
    "ModelError": "webcoach.condenser.errors",
    "ConfigError": "webcoach.condenser.errors",
    "Coach": "webcoach.coach.coach",
    "CoachConfig": "webcoach.coach.coach",
    "Advice": "webcoach.coach.advice",
    "RetrievalWeights": "webcoach.coach.ranking",
}

__all__ = [
    "Advice",
    "ChatModel",
    "Coach",
    "CoachConfig",
    "ConfigError",
    "EmbedderMismatchError",
    "Episode",
    "EpisodeStore",
    "FailureMode",
    "FunctionModel",
    "Hit",
    "InputError",
    "ModelError",
    "Outcome",
    "Redactor",
    "RetrievalWeights",
    "Step",
    "StoreError",
    "StoreLockedError",
    "Trajectory",
    "WebcoachError",
    "__version__",
    "condense",
    "load_trajectory",
    "queue_model",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'webcoach' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .coach.advice import Advice
    from .coach.coach import Coach, CoachConfig
    from .coach.ranking import RetrievalWeights
    from .condenser.condense import condense
    from .condenser.episode import Episode, FailureMode, Outcome
    from .condenser.errors import (
        ConfigError,
        EmbedderMismatchError,
        InputError,
        ModelError,
        StoreError,
        StoreLockedError,
        WebcoachError,
    )
    from .condenser.models import ChatModel, FunctionModel, queue_model
    from .condenser.redact import Redactor
    from .condenser.sources import load_trajectory
    from .condenser.store import EpisodeStore, Hit
    from .condenser.trajectory import Step, Trajectory
