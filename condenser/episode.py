"""The Episode: one finished run condensed into what a later run can learn from. Persisted, so a pydantic model."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from webcoach.condenser.urls import host_of

SCHEMA_VERSION = 1


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


OutcomeBy = Literal["agent", "judge", "human", "none"]
FailureKind = Literal["error", "loop", "dead_end", "timeout", "http_error", "console_error", "step_limit", "gave_up"]


class FailureMode(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: FailureKind
    detail: str
    step: int | None = None  # index of the step where it showed, when there is one
    url: str | None = None


class Episode(BaseModel):
    """What a run did and what to learn from it. `id` is derived from the content, so the same log maps to one id."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = SCHEMA_VERSION
    id: str
    task: str
    start_url: str | None = None
    domain: str | None = None
    outcome: Outcome = Outcome.UNKNOWN
    outcome_by: OutcomeBy = "none"
    outcome_reason: str | None = None
    summary: str
    key_steps: list[str] = Field(default_factory=list)
    failure_modes: list[FailureMode] = Field(default_factory=list)
    what_worked: list[str] = Field(default_factory=list)
    lessons: list[str] = Field(default_factory=list)
    final_answer: str | None = None
    step_count: int = Field(default=0, ge=0)
    duration_s: float | None = Field(default=None, ge=0)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source_kind: str
    content_hash: str
    condenser: str = "rules"
    # How often advice drawn from this episode preceded a success / a failure; maintained by the store.
    # Never negative: usefulness divides by helped + hurt + 2 (an imported helped=-1, hurt=-1 made it 0/0).
    helped: int = Field(default=0, ge=0)
    hurt: int = Field(default=0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _domain_from_start_url(cls, data: Any) -> Any:
        # Retrieval's same-site signal reads `domain`: an episode built by hand or imported with only a start_url
        # must not silently lose it.
        if isinstance(data, dict) and not data.get("domain") and data.get("start_url"):
            return {**data, "domain": domain_of(str(data["start_url"]))}
        return data

    def embedding_text(self) -> str:
        """What is embedded for retrieval: queries are tasks, so the task (and its site) is what to match on."""
        return f"{self.task} ({self.domain})" if self.domain else self.task

    @property
    def usefulness(self) -> float:
        """Laplace-smoothed share of coached runs that succeeded after advice from this episode (0.5 = no evidence)."""
        return (self.helped + 1) / (self.helped + self.hurt + 2)


def domain_of(url: str | None) -> str | None:
    host = host_of(url)
    if not host:
        return None
    return host[4:] if host.startswith("www.") else host


def content_hash(task: str, fingerprint: str) -> str:
    return hashlib.sha256(f"{task.strip()}\n{fingerprint}".encode()).hexdigest()
