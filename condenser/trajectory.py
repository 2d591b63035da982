"""One normalised step list, whatever the log it came from (Playwright trace, HAR, browser-use history)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Literal

SourceKind = Literal["playwright-trace", "browser-use-history", "har", "agent-steps", "mind2web"]

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
    # Not part of the fingerprint (see _STEP_FIELDS): added after ids were pinned.
    bot_wall: bool = False  # the page this step loaded was a bot check (a CAPTCHA, a challenge), not the site's page


@dataclass(frozen=True, kw_only=True)
class HttpFailure:
    url: str
    status: int  # 0: no response at all
    method: str = "GET"
    # Whether it was a main-frame page load; None when the log cannot tell (then: whether the run visited the URL).
    document: bool | None = None
    failure: str | None = None  # the client's own reason when there was no response (net::ERR_...)
    page_url: str | None = None  # the page that made the request, where known
    bot_wall: bool = False  # a bot check answered (Cloudflare's challenge, a CAPTCHA), not an error of the page


@dataclass(frozen=True, kw_only=True)
class PageMessage:
    """A console message or uncaught page error, with where it came from: text from another site's frame or script is
    third-party, kept for the run's record and never a lesson for the page's site."""

    text: str
    source_url: str | None = None  # the script, resource or frame that printed it
    page_url: str | None = None  # the main-frame page it showed on


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
    test_passed: bool | None = None  # a test runner's result (a Playwright test trace), where the log carries one
    test_reason: str | None = None
    console_errors: tuple[str, ...] = ()  # messages whose origin the log does not say
    page_messages: tuple[PageMessage, ...] = ()
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

    def evidence(self) -> str:
        """A digest of what the log shows beyond its steps (failed requests, console and page errors), or "" when it
        shows nothing more. Two logs of one run (a trace.zip, and its unzipped folder with an extra network file) have
        the same steps; the one with more evidence must not be taken for the other and dropped as a duplicate."""
        if not (self.http_failures or self.page_messages or self.console_errors):
            return ""
        body = {
            "http": sorted([f.url, f.status, f.method] for f in self.http_failures),
            "messages": sorted([m.text, m.source_url or ""] for m in self.page_messages) + sorted(self.console_errors),
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


# The fields ids were pinned with; a field added later stays out so that ids never change.
_STEP_FIELDS = tuple(f.name for f in fields(Step) if f.name != "bot_wall")
