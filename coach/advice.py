"""What the coach says, and the situation it decides on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from webcoach.condenser.trajectory import Trajectory
from webcoach.memory.ranking import Hit

Trigger = Literal["start", "same_error", "loop", "dead_end", "over_budget", "shorter_path", "llm"]


class Advice(BaseModel):
    """One intervention: the text the agent will read, the episodes it rests on, and why it was given."""

    model_config = ConfigDict(frozen=True)

    text: str
    episode_ids: list[str] = Field(default_factory=list)
    why: str
    confidence: float = Field(ge=0.0, le=1.0)
    trigger: Trigger = "start"
    step: int | None = None  # the agent step after which it was given (None: before the first step)
    key: str = ""  # identifies what it is about, so the same advice is never given twice in a run

    def render(self) -> str:
        """The text as injected into the agent's context."""
        cited = ", ".join(self.episode_ids)
        return f"[webcoach advice from past runs ({cited})] {self.text}"


@dataclass(frozen=True, kw_only=True)
class Situation:
    """Everything a decider may look at: the task, the live run so far and what memory returned."""

    task: str
    url: str | None
    hits: tuple[Hit, ...]
    trajectory: Trajectory | None = None  # None before the first step
    step: int = 0  # number of finished agent steps
    given: tuple[Advice, ...] = field(default_factory=tuple)  # advice already given in this run
