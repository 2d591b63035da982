"""The Episode: one finished run condensed into what a later run can learn from. Persisted, so a pydantic model."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from webcoach.condenser.site import site_of

SCHEMA_VERSION = 3


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


# Who said how the run went: a person, a judge, a test runner's assertions, the agent's own done(), or the log itself
# (the run ended without the agent finishing); "none" when nothing in the log says.
OutcomeBy = Literal["agent", "judge", "human", "test", "log", "none"]
# How far advice drawn from an episode may be trusted, most trusted first (see Episode.trust).
Trust = Literal["approved", "human", "judge", "agent", "imported", "banned"]
TRUST_ORDER: tuple[Trust, ...] = ("approved", "human", "judge", "agent", "imported", "banned")
FailureKind = Literal["error", "loop", "dead_end", "timeout", "http_error", "console_error", "step_limit", "gave_up", "bot_wall"]
# What caused a problem kept only for the run's record (condenser/incidents.py): never a lesson, never advised.
NoteCause = Literal["agent", "network", "blocked", "bot_wall", "http", "subresource", "third_party", "page", "unknown", "run"]


class FailureMode(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: FailureKind
    detail: str
    step: int | None = None  # index of the step where it showed, when there is one
    url: str | None = None
    count: int = Field(default=1, ge=1)  # how often the same fact showed in the run


class RunNote(BaseModel):
    """Something the log shows that is not a fact about the episode's site (the agent's own errors, the client's
    network, third-party frames, console noise): kept with the run, never turned into advice."""

    model_config = ConfigDict(frozen=True)

    cause: NoteCause
    detail: str
    url: str | None = None
    count: int = Field(default=1, ge=1)


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
    run_notes: list[RunNote] = Field(default_factory=list)  # the run's record: never advised
    # Other sites the same run worked on, each stored as its own episode (ids), so one site's advice uses its own part.
    related: list[str] = Field(default_factory=list)
    # The benchmark task the run was for (an eval's task id): runs of one task know each other by it, whatever a date
    # shift did to the question's years.
    task_id: str | None = None
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
    # Who vouches for the outcome, written only by webcoach's own code paths, never read from a log or an import:
    # "human:<how>" (a person acting through webcoach: `ingest --outcome`, the CLI, the demo's author), "judge:<model id>"
    # (a judge webcoach ran), None (nobody: the agent's own claim, or a verdict found inside the log). See `trust`.
    vouched_by: str | None = None
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
        """approved (pinned by a person) > human-vouched > judged by webcoach's judge > agent-claimed > imported; banned
        is never used. Granted by who wrote the record (`vouched_by`, `pinned`), never by what the log or a file says:
        `outcome_by` only reports who said how the run went, and a log can say anything."""
        if self.banned:
            return "banned"
        if self.pinned:
            return "approved"
        if self.imported_from is not None:
            return "imported"
        if self.revision_of is not None:  # a person's edit (`memory edit`) is a person's record
            return "human"
        kind = (self.vouched_by or "").partition(":")[0]
        if kind == "human":
            return "human"
        if kind == "judge":
            return "judge"
        return "agent"

    @property
    def trusted(self) -> bool:
        """Whether its site-independent lessons may be shown on other sites: only when a person approved the episode
        (`memory pin`). A person or judge vouching for the outcome vouches for the outcome, not for text a page or an
        LLM wrote."""
        return self.pinned and not self.banned

    def embedding_text(self) -> str:
        """What is embedded for retrieval: queries are tasks, so the task (and its site) is what to match on."""
        return f"{self.task} ({self.domain})" if self.domain else self.task

    @property
    def usefulness(self) -> float:
        """Laplace-smoothed share of coached runs that succeeded after advice from this episode (0.5 = no evidence)."""
        return (self.helped + 1) / (self.helped + self.hurt + 2)


def vouch(episode: Episode, by: str | None) -> Episode:
    """`episode` with its outcome vouched for by `by` ("human:<how>", "judge:<model id>") or by nobody (None). Called only
    by webcoach's own code paths that know who gave the verdict."""
    return episode.model_copy(update={"vouched_by": by})


def domain_of(url: str | None) -> str | None:
    """The site (registrable domain) of a URL; see condenser/site.py."""
    return site_of(url)


def content_hash(task: str, fingerprint: str) -> str:
    return hashlib.sha256(f"{task.strip()}\n{fingerprint}".encode()).hexdigest()
