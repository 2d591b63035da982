"""The rule-based condenser: no LLM, deterministic, the default.

A run becomes one episode per site it worked on (condenser/attribution.py), each holding only what happened on that
site's own pages. Every problem the log shows is classified (condenser/incidents.py): only what the site itself caused
(a main-frame page that answered an HTTP error, an element the page never offered, a dead end, a loop, the page where
the agent gave up) becomes a failure mode and a lesson; a bot wall becomes its own honest note; everything else (the
agent framework's errors, the client's network, third-party frames, console noise) is kept in the run's record
(`run_notes`) and never advised. Lessons name the path they are about, one per distinct fact, repeats counted.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import pairwise

from webcoach.condenser.attribution import SitePart, page_of, pages, work_sites
from webcoach.condenser.episode import (
    Episode,
    FailureKind,
    FailureMode,
    NoteCause,
    Outcome,
    OutcomeBy,
    RunNote,
    content_hash,
    domain_of,
)
from webcoach.condenser.incidents import SITE_CAUSES, classify_error, is_hop, third_party
from webcoach.condenser.site import site_of
from webcoach.condenser.trajectory import HttpFailure, Step, Trajectory
from webcoach.condenser.urls import short_url

__all__ = ["clip", "condense_rules", "condense_rules_all", "describe", "pages", "resolve_outcome", "short_url"]

MAX_KEY_STEPS = 12
MAX_FAILURES = 8
MAX_NOTES = 12
MIN_LIMIT_STEPS = 10  # a run that stopped without done() after this many steps ran out of them
LOOP_REPEATS = 3  # the same action on the same target this many times in a row is a loop
_STEP_LIMIT = re.compile(r"max(?:imum)?[ _]steps|step limit|ran out of steps|out of steps|last step", re.I)
# Why an element the agent wanted was not usable, as a fact the coach can state (not the page's own words).
_REASONS = (
    (re.compile(r"intercepts pointer events", re.I), "another element covered it"),
    (re.compile(r"strict mode violation|resolved to \d+ elements", re.I), "the selector matched several elements"),
    (re.compile(r"not (?:found or )?visible|element is not visible", re.I), "it was not visible"),
    (re.compile(r"not enabled|not editable", re.I), "it was disabled"),
    (re.compile(r"Navigation timeout|page\.goto: Timeout|goto.*Timeout", re.I), "the page did not finish loading in time"),
    (re.compile(r"waiting for|Timeout \d+ms exceeded", re.I), "it did not appear in time"),
    (re.compile(r"index \d+ not available|do(?:es)? not contain|No element|not found", re.I), "the element was not on the page"),
    (re.compile(r"ERR_CERT_\w+|ERR_SSL_\w+", re.I), "the site's certificate was refused"),
    (re.compile(r"ERR_TOO_MANY_REDIRECTS", re.I), "the page redirected in a loop"),
    (re.compile(r"ERR_EMPTY_RESPONSE|ERR_INVALID_RESPONSE|ERR_CONTENT_\w+", re.I), "the server sent no usable response"),
)


def clip(text: str | None, limit: int = 120) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(step: Step) -> str:
    target = f" {clip(step.target, 60)}" if step.target else ""
    if step.action == "goto":
        return f"goto {short_url(step.url if not step.target else step.target)}"
    if step.action in ("fill", "select") and step.value is not None:
        return f"{step.action}{target} = {clip(step.value, 40)!r}"
    if step.action == "done":
        return f"done: {clip(step.result, 80)}" if step.result else "done"
    return f"{step.action}{target}"


def resolve_outcome(
    traj: Trajectory, outcome: Outcome | str | None, outcome_by: OutcomeBy | None
) -> tuple[Outcome, OutcomeBy, str | None]:
    """Who says how it went: an explicit verdict (a person), a judge's verdict in the log, a test runner's result, the
    agent's own done(), then the log itself (a browser-use run that ended without done did not finish its task)."""
    if outcome is not None:
        return Outcome(outcome), outcome_by or "human", None
    if traj.judge_success is not None:
        return (Outcome.SUCCESS if traj.judge_success else Outcome.FAILURE), "judge", traj.judge_reason
    if traj.test_passed is not None:
        return (Outcome.SUCCESS if traj.test_passed else Outcome.FAILURE), "test", traj.test_reason
    if traj.claimed_success is not None:
        return (Outcome.SUCCESS if traj.claimed_success else Outcome.FAILURE), "agent", "the agent's own claim"
    if traj.source_kind == "browser-use-history" and traj.steps and not any(s.action == "done" for s in traj.steps):
        return Outcome.FAILURE, "log", "the run ended before the agent finished (no done step)"
    return Outcome.UNKNOWN, "none", None


class _Findings:
    """Failure modes (site facts) and run notes (the record), each distinct fact once with a count."""

    def __init__(self) -> None:
        self.failures: dict[tuple[str, str], FailureMode] = {}
        self.notes: dict[tuple[str, str], RunNote] = {}

    def fail(
        self, kind: FailureKind, detail: str, *, url: str | None = None, step: int | None = None, again: bool = True
    ) -> None:
        """`again=False`: the same event seen in a second place of the log (a page load's step and its request)."""
        # A page's HTTP error or bot wall is one fact per URL, however the log words it.
        key = (kind, url) if kind in ("http_error", "bot_wall") and url else (kind, detail)
        if key in self.failures:
            old = self.failures[key]
            if again:
                self.failures[key] = old.model_copy(update={"count": old.count + 1})
        elif len(self.failures) < MAX_FAILURES:
            self.failures[key] = FailureMode(kind=kind, detail=detail, url=url, step=step)

    def note(self, cause: NoteCause, detail: str, url: str | None = None) -> None:
        key = (cause, detail)
        if key in self.notes:
            old = self.notes[key]
            self.notes[key] = old.model_copy(update={"count": old.count + 1})
        elif len(self.notes) < MAX_NOTES:
            self.notes[key] = RunNote(cause=cause, detail=detail, url=url)


def _reason(error: str) -> str:
    return next((fact for pattern, fact in _REASONS if pattern.search(error)), "an error")


def _step_problems(part: SitePart, found: _Findings) -> None:
    for step in part.steps:
        page = page_of(step)
        if step.bot_wall:
            found.fail("bot_wall", f"{short_url(page)} showed a bot check", url=page, step=step.index)
        elif step.error:
            cause = classify_error(step.error)
            if cause in SITE_CAUSES:
                kind: FailureKind = "timeout" if "timeout" in step.error.lower() or "timed out" in step.error.lower() else "error"
                found.fail(kind, f"{describe(step)} failed: {clip(step.error, 140)}", url=page, step=step.index)
            elif cause == "bot_wall":
                found.fail("bot_wall", f"{short_url(page)} showed a bot check", url=page, step=step.index)
            else:
                found.note(cause, f"{describe(step)} failed: {clip(step.error, 140)}", page)
        if step.http_status is not None and step.http_status >= 400 and step.action == "goto" and not step.bot_wall:
            found.fail("http_error", f"{short_url(page)} returned HTTP {step.http_status}", url=page, step=step.index)


def _request_problems(traj: Trajectory, part: SitePart, visited: set[str], found: _Findings) -> None:
    for failure in traj.http_failures:
        site = site_of(failure.url)
        document = failure.document if failure.document is not None else failure.url in visited
        on_this_site = site == part.site
        if failure.bot_wall:
            if on_this_site and document:
                found.fail("bot_wall", f"{short_url(failure.url)} showed a bot check", url=failure.url, again=False)
            continue
        if not on_this_site:
            cause = classify_error(failure.failure)
            if cause in ("network", "blocked", "agent"):
                found.note(cause, _request_text(failure), failure.url)
            elif not document and third_party(failure.url, failure.page_url or part.start_url):
                found.note("third_party", _request_text(failure), failure.url)
            continue
        if failure.status <= 0:
            cause = classify_error(failure.failure)
            found.note(
                cause if cause != "unknown" else ("network" if document else "subresource"), _request_text(failure), failure.url
            )
        elif document:
            detail = f"{failure.method} {short_url(failure.url)} returned HTTP {failure.status}"
            found.fail("http_error", detail, url=failure.url, again=False)
        elif failure.status >= 500:
            # The site's own server failed a request its page made (an API call): a fact about the site. A missing
            # image or script (4xx) is not something an agent can act on: the record only.
            found.fail(
                "http_error",
                f"{failure.method} {short_url(failure.url)} (a request of the page) returned HTTP {failure.status}",
                url=failure.url,
            )
        else:
            found.note("subresource", _request_text(failure), failure.url)


def _request_text(failure: HttpFailure) -> str:
    what = failure.failure or f"HTTP {failure.status}"
    return f"{failure.method} {short_url(failure.url)}: {clip(what, 80)}"


def _message_notes(traj: Trajectory, part: SitePart, found: _Findings) -> None:
    for message in traj.page_messages:
        if message.page_url and site_of(message.page_url) != part.site:
            continue
        cause: NoteCause = "third_party" if third_party(message.source_url, message.page_url) else "page"
        found.note(cause, f"console: {clip(message.text, 120)}", message.source_url)
    for text in traj.console_errors:
        found.note("unknown", f"console: {clip(text, 120)}")


def _behaviour(part: SitePart, answer_page: str | None, found: _Findings) -> None:
    steps = part.steps
    run_len = 1
    for prev, step in pairwise(steps):
        # A loop is an action repeated on a page: reported notes with no page or target ("read the results") are not.
        same = (
            (prev.action, prev.target, prev.url) == (step.action, step.target, step.url)
            and step.action not in ("scroll", "wait")
            and step.url is not None
            and not (step.action == "other" and step.target is None)
        )
        run_len = run_len + 1 if same else 1
        if run_len == LOOP_REPEATS:
            found.fail(
                "loop", f"repeated {describe(step)} {LOOP_REPEATS}+ times on {short_url(step.url)}", step=step.index, url=step.url
            )
    visits = Counter(s.target for s in steps if s.action == "goto" and s.target and s.target.startswith("http"))
    for url, n in visits.items():
        if n >= LOOP_REPEATS:
            found.fail("loop", f"navigated to {short_url(url)} {n} times", url=url)
    read = {s.url for s in steps if s.action in ("extract", "done") and s.url}
    for step in steps:
        # A page the agent went back from without progress: not the one the answer came from, nor one it read from.
        if step.action == "back" and step.url and step.url != answer_page and step.url not in read:
            found.fail("dead_end", f"{short_url(step.url)} was a dead end (went back)", step=step.index, url=step.url)


def _ending(traj: Trajectory, part: SitePart, main: bool, outcome: Outcome, found: _Findings) -> None:
    done = [s for s in traj.steps if s.action == "done"]
    if outcome is Outcome.SUCCESS:
        return
    if not done:
        if main and traj.source_kind == "browser-use-history":
            last = traj.steps[-1] if traj.steps else None
            # A long run that simply stopped ran out of steps; a short one whose last step broke was aborted (the
            # agent's machinery, the network): that says nothing about how to do the task.
            aborted = last is None or (last.error is not None and classify_error(last.error) not in SITE_CAUSES)
            if len(traj.steps) >= MIN_LIMIT_STEPS and not aborted:
                found.fail("step_limit", f"run ended after {len(traj.steps)} steps without finishing")
            else:
                found.note("run", f"the run ended after {len(traj.steps)} steps before the agent finished")
        return
    last = done[-1]
    said = clip(last.result, 160)
    if traj.claimed_success is False and _STEP_LIMIT.search(said or ""):
        if main:
            found.fail("step_limit", f"run reached its step limit after {len(traj.steps)} steps")
        return
    page = last.url or (part.steps[-1].url if part.steps else None)
    if traj.claimed_success is False and (site_of(page) == part.site or (main and page is None)):
        tried = [
            f"{s.action} {clip(s.target, 60)}"
            for s in part.steps
            if s.action in ("click", "fill", "select", "upload") and s.target
        ][-2:]
        after = f" after {'; '.join(tried)}" if tried else ""
        found.fail("gave_up", f"agent gave up on {short_url(page)}{after}: {said or 'no answer'}", step=last.index, url=page)


def _lessons(traj: Trajectory, outcome: Outcome, failures: list[FailureMode], route: list[str]) -> list[str]:
    lessons: list[str] = []
    broken = {f.url for f in failures if f.kind == "http_error"}
    for f in failures:
        times = f" (seen {f.count} times)" if f.count > 1 else ""
        if f.kind in ("error", "timeout") and f.url:
            what = f.detail.split(" failed: ", 1)[0]
            reason = _reason(f.detail.split(" failed: ", 1)[-1])
            lessons.append(f"On {short_url(f.url)}, {what} failed ({reason}){times}; try another element or route there.")
        elif f.kind == "http_error" and f.url and "(a request of the page)" in f.detail:
            status = f.detail.rsplit(" returned ", 1)[-1]
            lessons.append(
                f"The site's server failed {short_url(f.url)} ({status}){times}: the page that depends on it may not work."
            )
        elif f.kind == "http_error" and f.url:
            lessons.append(f"Avoid {short_url(f.url)}: it is a broken page ({f.detail.rsplit(' returned ', 1)[-1]}){times}.")
        elif f.kind == "bot_wall" and f.url:
            lessons.append(
                f"{short_url(f.url)} shows a bot check (CAPTCHA or challenge){times}: a person may need to pass it; "
                "the page itself is not broken."
            )
        elif f.kind == "loop" and f.url:
            lessons.append(f"On {short_url(f.url)}: {f.detail} without progress; after two tries change approach.")
        elif f.kind == "dead_end" and f.url and f.url not in broken:
            lessons.append(f"{short_url(f.url)} did not lead to the answer (the agent went back from it).")
        elif f.kind == "step_limit":
            lessons.append(f"The run used {len(traj.steps)} steps and did not finish: take a more direct route.")
        elif f.kind == "gave_up" and f.url:
            # What it tried, not what it said: its final words may echo the page (they stay in the failure's detail).
            tried = f.detail.removeprefix(f"agent gave up on {short_url(f.url)}").split(": ", 1)[0]
            lessons.append(f"On {short_url(f.url)}, the agent gave up{tried}{times}.")
    # One page is no route to learn (what_worked and the summary already name it); two or more are.
    if outcome is Outcome.SUCCESS and len(route) > 1:
        answer = f" (answer: {clip(traj.final_answer, 60)})" if traj.final_answer else ""
        lessons.append(f"This route worked in {len(traj.steps)} steps: {' -> '.join(short_url(p) for p in route[-6:])}{answer}.")
    return list(dict.fromkeys(lessons))[:8]


def key_steps(steps: Iterable[Step]) -> list[str]:
    lines: list[str] = []
    for step in steps:
        line = describe(step) + (" [failed]" if step.error else "")
        if lines and lines[-1] == line:
            continue
        lines.append(line)
    if len(lines) > MAX_KEY_STEPS:
        half = MAX_KEY_STEPS // 2
        lines = [*lines[:half], f"… {len(lines) - 2 * half} more steps …", *lines[-half:]]
    return lines


def _route(part_pages: list[str], dead: set[str]) -> list[str]:
    route: list[str] = []
    for page in part_pages:
        if page in dead:
            continue
        if page in route:  # back to a page already on the route: the detour in between was not part of it
            route = route[: route.index(page) + 1]
        else:
            route.append(page)
    return route


def condense_rules_all(
    traj: Trajectory,
    task: str,
    *,
    outcome: Outcome | str | None = None,
    outcome_by: OutcomeBy | None = None,
    created_at: datetime | None = None,
) -> list[Episode]:
    """One episode per site the run worked on, the main site first (its id is the one the log always had)."""
    result, by, reason = resolve_outcome(traj, outcome, outcome_by)
    parts = work_sites(traj, task)
    evidence = traj.evidence()
    # Once: it serialises and hashes every step. A log with nothing beyond its steps keeps the id it always had.
    digest = content_hash(task, traj.fingerprint() + (f"\n{evidence}" if evidence else ""))
    visited_pages = pages(traj)
    visited = set(visited_pages)
    answer_page = next((s.url for s in reversed(traj.steps) if s.action in ("done", "extract") and s.url), None)
    digests = [digest] + [_part_digest(digest, p.site) for p in parts[1:]]
    ids = [d[:16] for d in digests]
    if not parts:  # nothing but hops and non-pages: an episode with no site
        found = _Findings()
        _unplaced_errors(traj, set(), found)
        _ending(traj, SitePart(site="", steps=traj.steps, start_url=""), True, result, found)
        return [_episode(traj, task, result, by, reason, None, list(traj.steps), found, [], digest, created_at, [])]
    episodes = []
    for number, part in enumerate(parts):
        main = number == 0
        found = _Findings()
        _step_problems(part, found)
        _request_problems(traj, part, visited, found)
        _behaviour(part, answer_page, found)
        _ending(traj, part, main, result, found)
        if main:
            _message_notes(traj, part, found)
            _unplaced_errors(traj, {id(step) for p in parts for step in p.steps}, found)
        dead = {f.url for f in found.failures.values() if f.kind in ("dead_end", "http_error", "bot_wall") and f.url}
        route = _route([p for p in visited_pages if site_of(p) == part.site and not is_hop(p, task)], dead)
        others = [i for i in ids if i != ids[number]]
        episodes.append(
            _episode(
                traj,
                task,
                result,
                by,
                reason,
                part.start_url,
                list(part.steps),
                found,
                route,
                digests[number],
                created_at,
                others,
            )
        )
    return episodes


def _unplaced_errors(traj: Trajectory, placed: set[int], found: _Findings) -> None:
    """What failed on hop pages, or on no page at all, belongs to no site: the record only."""
    for step in traj.steps:
        if step.error and id(step) not in placed:
            found.note(classify_error(step.error), f"{describe(step)} failed: {clip(step.error, 140)}", page_of(step))


def _part_digest(digest: str, site: str) -> str:
    return hashlib.sha256(f"{digest}\n{site}".encode()).hexdigest()


def _episode(
    traj: Trajectory,
    task: str,
    result: Outcome,
    by: OutcomeBy,
    reason: str | None,
    start: str | None,
    steps: list[Step],
    found: _Findings,
    route: list[str],
    digest: str,
    created_at: datetime | None,
    related: list[str],
) -> Episode:
    failures = list(found.failures.values())
    worked: list[str] = []
    if result is Outcome.SUCCESS:
        worked.append("path: " + " -> ".join(short_url(p) for p in route[-8:]) if route else "finished without navigating")
        if traj.final_answer:
            worked.append(f"answer given: {clip(traj.final_answer, 100)}")
    status = {"success": "Succeeded", "failure": "Failed", "unknown": "Ended (outcome unknown)"}[result.value]
    by_text = {
        "agent": " (agent's claim)",
        "judge": " (judge)",
        "human": " (human)",
        "test": " (test result)",
        "log": "",
        "none": "",
    }[by]
    duration = f" in {traj.duration_s:.0f}s" if traj.duration_s else ""
    site = domain_of(start)
    summary = [f"{status}{by_text} after {len(traj.steps)} steps{duration} on {site or 'no identifiable site'}."]
    if route:
        summary.append("Visited " + " -> ".join(short_url(p) for p in route[:6]) + (" …" if len(route) > 6 else "") + ".")
    if failures:
        summary.append("Problems: " + "; ".join(clip(f.detail, 80) for f in failures[:3]) + ".")
    if traj.final_answer:
        summary.append(f"Final answer: {clip(traj.final_answer, 120)}")
    done = [s for s in traj.steps if s.action == "done" and s not in steps]
    return Episode(
        id=digest[:16],
        task=task,
        start_url=start,
        domain=site,
        outcome=result,
        outcome_by=by,
        outcome_reason=reason,
        summary=" ".join(summary),
        key_steps=key_steps([*steps, *done]),
        failure_modes=failures,
        what_worked=worked,
        lessons=_lessons(traj, result, failures, route),
        run_notes=list(found.notes.values()),
        related=related,
        final_answer=traj.final_answer,
        step_count=len(traj.steps),
        duration_s=traj.duration_s,
        created_at=created_at or datetime.now(UTC),
        source_kind=traj.source_kind,
        content_hash=digest,
        condenser="rules",
    )


def condense_rules(
    traj: Trajectory,
    task: str,
    *,
    outcome: Outcome | str | None = None,
    outcome_by: OutcomeBy | None = None,
    created_at: datetime | None = None,
) -> Episode:
    """The episode of the run's main site (see condense_rules_all for every site's)."""
    return condense_rules_all(traj, task, outcome=outcome, outcome_by=outcome_by, created_at=created_at)[0]
