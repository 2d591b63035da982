"""One normalised step list, whatever the log it came from (Playwright trace, HAR, browser-use history)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Literal

SourceKind = Literal["playwright-trace", "browser-use-history", "har", "agent-steps"]

# Canonical action names; parsers map their own vocabulary onto these and keep anything else as "other".
ACTIONS = frozenset(
    {
        "goto",
        "click",
        "fill",
        "press",
        "select",
        "check",
        "scroll",
        "hover",
        "wait",
        "extract",
        "back",
        "tab",
        "upload",
        "done",
        "other",
    }
)


@dataclass(frozen=True, kw_only=True)
class Step:
    index: int
    action: str
    url: str | None = None  # page URL when the step began
    target: str | None = None  # selector or element description
    value: str | None = None  # typed/selected value, already redacted
    error: str | None = None
    http_status: int | None = None  # status of the navigation this step caused, when known
    thought: str | None = None  # the agent's own reasoning / next goal, where the log has one
    result: str | None = None  # extracted content or the final answer for extract/done
    started_at: float | None = None  # epoch seconds
    duration_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class HttpFailure:
    url: str
    status: int
    method: str = "GET"


@dataclass(frozen=True, kw_only=True)
class Trajectory:
    source_kind: SourceKind
    steps: tuple[Step, ...]
    task: str | None = None
    start_url: str | None = None
    final_answer: str | None = None
    claimed_success: bool | None = None  # what the agent itself said when it finished
    judge_success: bool | None = None  # a judge's verdict, where the log carries one
    judge_reason: str | None = None
    console_errors: tuple[str, ...] = ()
    http_failures: tuple[HttpFailure, ...] = ()
    started_at: float | None = None
    duration_s: float | None = None
    source: str | None = field(default=None, compare=False)  # file name it was read from, for messages only

    def fingerprint(self) -> str:
        """A stable digest of the (redacted) content, so re-ingesting the same log is recognised."""
        # It feeds episode ids, so its output must never change (tests/condenser/test_rules.py pins it). Steps hold
        # plain values only, so reading their fields gives what `dataclasses.asdict` gave without its deep copy.
        body = {
            "source_kind": self.source_kind,
            "steps": [{name: getattr(s, name) for name in _STEP_FIELDS} for s in self.steps],
            "final_answer": self.final_answer,
            "start_url": self.start_url,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


_STEP_FIELDS = tuple(f.name for f in fields(Step))
