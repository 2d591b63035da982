"""The rule-based condenser: no LLM, deterministic, the default. Finds what went wrong (errors, loops, dead ends,
timeouts, HTTP and console errors), what worked (the path to the answer) and turns both into reusable lessons."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from webcoach.condenser.episode import Episode, FailureKind, FailureMode, Outcome, OutcomeBy, content_hash, domain_of
from webcoach.condenser.site import same_site, site_of
from webcoach.condenser.trajectory import Step, Trajectory
from webcoach.condenser.urls import short_url

MAX_KEY_STEPS = 12
MAX_FAILURES = 8
LOOP_REPEATS = 3  # the same action on the same target this many times in a row is a loop


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
    """Who says how it went, in order of trust: an explicit verdict (a human), a judge, then the agent's own claim."""
    if outcome is not None:
        return Outcome(outcome), outcome_by or "human", None
    if traj.judge_success is not None:
        return (Outcome.SUCCESS if traj.judge_success else Outcome.FAILURE), "judge", traj.judge_reason
    if traj.claimed_success is not None:
        return (Outcome.SUCCESS if traj.claimed_success else Outcome.FAILURE), "agent", "the agent's own claim"
    return Outcome.UNKNOWN, "none", None


def pages(traj: Trajectory) -> list[str]:
    """Distinct http(s) pages in visiting order (consecutive repeats collapsed)."""
    seen: list[str] = []
    for step in traj.steps:
        url = step.url
        if step.action == "goto" and step.target and step.target.startswith("http"):
            url = step.target
        if url and url.startswith("http") and (not seen or seen[-1] != url):
            seen.append(url)
    return seen


def find_failures(traj: Trajectory, outcome: Outcome) -> list[FailureMode]:
    found: list[FailureMode] = []
    seen_details: set[str] = set()

    def add(mode: FailureMode) -> None:
        if mode.detail not in seen_details and len(found) < MAX_FAILURES:
            seen_details.add(mode.detail)
            found.append(mode)

    for step in traj.steps:
        if step.error:
            lowered = step.error.lower()
            kind: FailureKind = "timeout" if "timeout" in lowered or "timed out" in lowered else "error"
            add(FailureMode(kind=kind, detail=f"{describe(step)} failed: {clip(step.error, 140)}", step=step.index, url=step.url))
        if step.http_status is not None and step.http_status >= 400 and step.action == "goto":
            page = step.target if step.target and step.target.startswith("http") else step.url
            add(
                FailureMode(
                    kind="http_error", detail=f"{short_url(page)} returned HTTP {step.http_status}", step=step.index, url=page
                )
            )
    # Only a page the run itself was on (a main-frame navigation) on the run's own site can be "broken": a page may load
    # any URL as an image or fetch it, and must not get another site's (or its own sub-resources') pages marked broken.
    site = site_of(traj.start_url or next(iter(pages(traj)), None))
    visited = set(pages(traj))
    for failure in traj.http_failures:
        if failure.url not in visited or not same_site(failure.url, site):
            continue
        add(
            FailureMode(
                kind="http_error",
                detail=f"{failure.method} {short_url(failure.url)} returned HTTP {failure.status}",
                url=failure.url,
            )
        )
    for message in traj.console_errors[:3]:
        add(FailureMode(kind="console_error", detail=f"page script error: {clip(message, 140)}"))

    # Loops: the same action on the same target, again and again.
    run_len = 1
    for prev, step in zip(traj.steps, traj.steps[1:], strict=False):
        # A loop is an action repeated on a page: reported notes with no page or target ("read the results") are not.
        same = (
            (prev.action, prev.target, prev.url) == (step.action, step.target, step.url)
            and step.action not in ("scroll", "wait")
            and step.url is not None
            and not (step.action == "other" and step.target is None)
        )
        run_len = run_len + 1 if same else 1
        if run_len == LOOP_REPEATS:
            add(
                FailureMode(
                    kind="loop",
                    detail=f"repeated {describe(step)} {LOOP_REPEATS}+ times on {short_url(step.url)}",
                    step=step.index,
                    url=step.url,
                )
            )
    # Loops across pages: the same page visited many times.
    visits = Counter(s.url for s in traj.steps if s.url and s.url.startswith("http") and s.action == "goto")
    for url, n in visits.items():
        if n >= LOOP_REPEATS:
            add(FailureMode(kind="loop", detail=f"navigated to {short_url(url)} {n} times", url=url))
    # Dead ends: pages the agent had to back out of.
    for step in traj.steps:
        if step.action == "back" and step.url:
            add(
                FailureMode(
                    kind="dead_end", detail=f"{short_url(step.url)} was a dead end (went back)", step=step.index, url=step.url
                )
            )

    # Whatever happened on another site (a redirect, a link out) says nothing about this one: not kept.
    found = [f for f in found if f.url is None or same_site(f.url, site)]
    done = [s for s in traj.steps if s.action == "done"]
    if outcome is not Outcome.SUCCESS:
        if not done and (traj.source_kind == "browser-use-history" or outcome is Outcome.FAILURE):
            add(FailureMode(kind="step_limit", detail=f"run ended after {len(traj.steps)} steps without finishing"))
        elif traj.claimed_success is False:
            add(
                FailureMode(
                    kind="gave_up", detail=f"agent gave up: {clip(done[-1].result, 140) or 'no answer'}", step=done[-1].index
                )
            )
    return found


def lessons_for(task: str, traj: Trajectory, outcome: Outcome, failures: list[FailureMode], path: list[str]) -> list[str]:
    lessons: list[str] = []
    broken = {f.url for f in failures if f.kind == "http_error"}
    for f in failures:
        if f.kind in ("error", "timeout") and f.url:
            lessons.append(
                f"On {short_url(f.url)}: {f.detail.rstrip('.')}. Do not retry the same action; look for another element or route."
            )
        elif f.kind == "http_error" and f.url:
            lessons.append(f"Avoid {short_url(f.url)}: it is a broken page ({f.detail.rsplit(' returned ', 1)[-1]}).")
        elif f.kind == "loop":
            lessons.append(f"Stop after two identical attempts: {f.detail} without progress.")
        elif f.kind == "dead_end" and f.url not in broken:  # "avoid: broken page" already says it
            lessons.append(f"{f.detail.split(' was')[0]} did not lead to the answer.")
        elif f.kind == "step_limit":
            lessons.append(f"The run used {len(traj.steps)} steps and did not finish: take a more direct route.")
    if outcome is Outcome.SUCCESS and path:
        route = " -> ".join(short_url(p) for p in path[-6:])
        answer = f" (answer: {clip(traj.final_answer, 60)})" if traj.final_answer else ""
        lessons.append(f"This route worked in {len(traj.steps)} steps: {route}{answer}.")
    # Keep order, drop duplicates.
    return list(dict.fromkeys(lessons))[:8]


def without_detours(pages: list[str]) -> list[str]:
    """A route as the pages a later run needs: a page seen again (the agent went back) cuts out what lay between, so
    a route never reads `index.html -> index.html`."""
    route: list[str] = []
    for page in pages:
        if page in route:
            del route[route.index(page) + 1 :]
        else:
            route.append(page)
    return route


def key_steps(traj: Trajectory) -> list[str]:
    lines: list[str] = []
    for step in traj.steps:
        line = describe(step) + (" [failed]" if step.error else "")
        if lines and lines[-1] == line:
            continue
        lines.append(line)
    if len(lines) > MAX_KEY_STEPS:
        half = MAX_KEY_STEPS // 2
        lines = [*lines[:half], f"… {len(lines) - 2 * half} more steps …", *lines[-half:]]
    return lines


def condense_rules(
    traj: Trajectory,
    task: str,
    *,
    outcome: Outcome | str | None = None,
    outcome_by: OutcomeBy | None = None,
    created_at: datetime | None = None,
) -> Episode:
    result, by, reason = resolve_outcome(traj, outcome, outcome_by)
    visited = pages(traj)
    start = traj.start_url or (visited[0] if visited else None)
    failures = find_failures(traj, result)
    dead = {f.url for f in failures if f.kind in ("dead_end", "http_error") and f.url}
    # A route is a route on this site: pages of other sites (redirects, links out) never become part of one.
    path = without_detours([p for p in visited if p not in dead and same_site(p, start)])

    worked: list[str] = []
    if result is Outcome.SUCCESS:
        worked.append("path: " + " -> ".join(short_url(p) for p in path[-8:]) if path else "finished without navigating")
        if traj.final_answer:
            worked.append(f"answer given: {clip(traj.final_answer, 100)}")

    status = {"success": "Succeeded", "failure": "Failed", "unknown": "Ended (outcome unknown)"}[result.value]
    by_text = {"agent": " (agent's claim)", "judge": " (judge)", "human": " (human)", "none": ""}[by]
    duration = f" in {traj.duration_s:.0f}s" if traj.duration_s else ""
    summary = [f"{status}{by_text} after {len(traj.steps)} steps{duration} on {domain_of(start) or 'an unknown site'}."]
    if visited:
        summary.append("Visited " + " -> ".join(short_url(p) for p in visited[:6]) + (" …" if len(visited) > 6 else "") + ".")
    if failures:
        summary.append("Problems: " + "; ".join(clip(f.detail, 80) for f in failures[:3]) + ".")
    if traj.final_answer:
        summary.append(f"Final answer: {clip(traj.final_answer, 120)}")

    digest = content_hash(task, traj.fingerprint())  # once: it serialises and hashes every step
    return Episode(
        id=digest[:16],
        task=task,
        start_url=start,
        domain=domain_of(start),
        outcome=result,
        outcome_by=by,
        outcome_reason=reason,
        summary=" ".join(summary),
        key_steps=key_steps(traj),
        failure_modes=failures,
        what_worked=worked,
        lessons=lessons_for(task, traj, result, failures, path),
        final_answer=traj.final_answer,
        step_count=len(traj.steps),
        duration_s=traj.duration_s,
        created_at=created_at or datetime.now(UTC),
        source_kind=traj.source_kind,
        content_hash=digest,
        condenser="rules",
    )
