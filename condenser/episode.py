"""The Episode: one finished run condensed into what a later run can learn from. Persisted, so a pydantic model."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from webcoach.condenser.site import site_of

SCHEMA_VERSION = 2


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


OutcomeBy = Literal["agent", "judge", "human", "none"]
# How far advice drawn from an episode may be trusted, most trusted first (see Episode.trust).
Trust = Literal["approved", "human", "judge", "agent", "imported", "banned"]
TRUST_ORDER: tuple[Trust, ...] = ("approved", "human", "judge", "agent", "imported", "banned")
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
    # Provenance: where a record came from when it was not condensed here (an import file), and a person's verdict on it.
    imported_from: str | None = None
    imported_at: datetime | None = None
    pinned: bool = False  # a person approved it (`webcoach memory pin`)
    banned: bool = False  # a person excluded it (`webcoach memory ban`): never shown to an agent
    # A person's corrected copy of another episode (`webcoach memory edit`): the original is kept, banned.
    revision_of: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _site_from_start_url(cls, data: object) -> object:
        # The site is derived, never taken on trust: a record that says "amazon.com" but starts on another host is
        # filed under the host it starts on (an imported file cannot claim a site it was not recorded on), and one
        # built by hand with only a start_url does not lose retrieval's same-site signal.
        if isinstance(data, dict) and data.get("start_url"):
            derived = site_of(str(data["start_url"]))
            if derived != data.get("domain"):
                data = {**data, "domain": derived}
        return data

    @property
    def trust(self) -> Trust:
        """approved (pinned by a person) > human-labelled or edited > judged > agent-claimed > imported; banned is never used."""
        if self.banned:
            return "banned"
        if self.pinned:
            return "approved"
        if self.imported_from is not None:
            return "imported"
        if self.revision_of is not None:
            return "human"
        if self.outcome_by in ("human", "judge"):
            return self.outcome_by
        return "agent"

    @property
    def trusted(self) -> bool:
        """Trusted enough for its site-independent lessons to be shown on other sites."""
        return self.trust in ("approved", "human", "judge")

    def embedding_text(self) -> str:
        """What is embedded for retrieval: queries are tasks, so the task (and its site) is what to match on."""
        return f"{self.task} ({self.domain})" if self.domain else self.task

    @property
    def usefulness(self) -> float:
        """Laplace-smoothed share of coached runs that succeeded after advice from this episode (0.5 = no evidence)."""
        return (self.helped + 1) / (self.helped + self.hurt + 2)


def domain_of(url: str | None) -> str | None:
    """The site (registrable domain) of a URL; see condenser/site.py."""
    return site_of(url)


def content_hash(task: str, fingerprint: str) -> str:
    return hashlib.sha256(f"{task.strip()}\n{fingerprint}".encode()).hexdigest()
