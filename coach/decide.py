"""The rule-based decider (the default, offline): speak when the live run matches something memory knows, else stay silent.

Before the first step it passes on lessons from the most relevant successes and failures. During the run it intervenes
when the live trajectory shows a failure mode a retrieved episode already met (the same error, an action loop, a dead-end
URL, more steps than successful runs needed) or when a retrieved success shows a shorter path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from webcoach.coach.advice import MAX_OBSERVATIONS, Advice, Observation, Situation, Trigger, observe
from webcoach.coach.scope import on_site, problem_fact, same_task
from webcoach.condenser.episode import Episode, FailureMode, Outcome
from webcoach.condenser.rules import describe, short_url
from webcoach.condenser.trajectory import Step
from webcoach.memory.ranking import Hit


class Decider(Protocol):
    async def decide(self, situation: Situation) -> Advice | None: ...


@dataclass(frozen=True, kw_only=True)
class RuleSettings:
    min_similarity: float = 0.35  # below this an episode is not about the same kind of task
    step_margin: int = 2  # steps beyond the longest similar success before "over budget" fires


def _route(ep: Episode) -> str | None:
    for item in ep.what_worked:
        if item.startswith("path: "):
            return item[len("path: ") :]
    return None


def _success_observations(ep: Episode, situation: Situation) -> list[Observation]:
    """What a past success on this site shows: its route, and its answer when it was the same task (another task's
    answer is a wrong answer here), as quoted data."""
    site = situation.site
    found: list[Observation] = []
    route = _route(ep)
    if route:
        found.append(observe("route", f"{route} ({ep.step_count} steps)", ep, site))
    elif ep.summary:
        found.append(observe("note", ep.summary, ep, site, limit=160))
    if ep.final_answer and same_task(ep.task, situation.task):
        found.append(observe("answer", ep.final_answer, ep, site, limit=80))
    return found


def _problem(mode: FailureMode, ep: Episode, site: str | None) -> Observation:
    # A failure reaches an agent as facts the coach composes (what failed, error class, where), not as the page's words.
    return observe("problem", problem_fact(mode), ep, site)


def _words(text: str | None) -> set[str]:
    return {w for w in "".join(c.lower() if c.isalnum() else " " for c in (text or "")).split() if len(w) > 2}


class RuleDecider:
    def __init__(self, settings: RuleSettings | None = None) -> None:
        self.settings = settings or RuleSettings()

    async def decide(self, situation: Situation) -> Advice | None:
        relevant = [h for h in situation.hits if h.similarity >= self.settings.min_similarity]
        if not relevant:
            return None
        if situation.trajectory is None or not situation.trajectory.steps:
            return self._start(relevant, situation)
        # During a run only the run's own site speaks: every check below is about its pages, errors and routes.
        local = [h for h in relevant if h.same_site]
        if not local:
            return None
        steps = situation.trajectory.steps
        for check in (self._same_error, self._loop, self._dead_end, self._over_budget, self._shorter_path):
            advice = check(local, steps, situation)
            if advice is not None:
                return advice.model_copy(update={"step": situation.step, "site": situation.site})
        return None

    def _start(self, relevant: list[Hit], situation: Situation) -> Advice | None:
        site = situation.site
        local = [h for h in relevant if h.same_site]
        successes = [h for h in local if h.episode.outcome is Outcome.SUCCESS][:1]
        failures = [h for h in local if h.episode.outcome is not Outcome.SUCCESS][:2]
        observations: list[Observation] = []
        cited: list[Hit] = []
        for hit in successes:
            observations.extend(_success_observations(hit.episode, situation))
            cited.append(hit)
        for hit in failures:
            ep = hit.episode
            # A lesson that quotes a failed step's error carries the page's words: that failure is told as facts instead.
            lessons = [
                lesson for lesson in ep.lessons if not lesson.startswith("This route worked") and " failed: " not in lesson
            ][:2]
            notes = [observe("lesson", lesson, ep, site) for lesson in lessons]
            errors = [m for m in ep.failure_modes if m.kind in ("error", "timeout")]
            if (len(notes) < 2 and errors) or (not notes and ep.failure_modes):
                notes.append(_problem((errors or ep.failure_modes)[0], ep, site))
            if not notes and ep.summary:
                # A failure that left no site fact (no error, no broken page): where it went and how it ended, as the
                # rules wrote it (paths and counts), so a run does not walk the same way blind.
                notes.append(observe("note", ep.summary, ep, site, limit=160))
            if notes:
                observations.extend(notes)
                cited.append(hit)
        general = [h for h in relevant if not h.same_site][:2]
        for hit in general:
            observations.extend(observe("general_lesson", lesson, hit.episode, site) for lesson in hit.episode.lessons[:2])
            cited.append(hit)
        if not observations:
            return None
        parts = []
        if successes:
            parts.append("a similar run on this site succeeded; its route is below")
        if failures:
            parts.append("similar runs on this site met the problems below")
        if general:
            parts.append("vetted runs elsewhere left general lessons")
        text = "Before you start: " + "; ".join(parts) + ". Use them only where they fit your task."
        return Advice(
            text=text,
            observations=list(dict.fromkeys(observations))[:MAX_OBSERVATIONS],
            episode_ids=[h.episode.id for h in cited],
            why=f"{len(cited)} similar past run(s) (best similarity {max(h.similarity for h in cited):.2f})",
            confidence=_confidence(cited),
            trigger="start",
            key="start",
            site=site,
        )

    def _same_error(self, relevant: list[Hit], steps: tuple[Step, ...], situation: Situation) -> Advice | None:
        last = steps[-1]
        if not last.error:
            return None
        live = _words(f"{last.action} {last.target} {last.error}")
        for hit in relevant:
            for mode in hit.episode.failure_modes:
                if mode.kind not in ("error", "timeout"):
                    continue
                same_page = bool(mode.url and last.url and short_url(mode.url) == short_url(last.url))
                overlap = len(live & _words(mode.detail)) / max(1, len(live))
                if (same_page and overlap >= 0.3) or overlap >= 0.6:
                    return self._with_success(
                        relevant,
                        hit,
                        "Your last step failed the way a past run on this site failed (below). Do not retry it; "
                        "try a different element or route.",
                        [_problem(mode, hit.episode, situation.site)],
                        situation,
                        trigger="same_error",
                        key=f"same_error:{hit.episode.id}:{mode.detail}",
                        why=f"the last step failed like episode {hit.episode.id} did",
                    )
        return None

    def _loop(self, relevant: list[Hit], steps: tuple[Step, ...], situation: Situation) -> Advice | None:
        if len(steps) < 2:
            return None
        a, b = steps[-2], steps[-1]
        if (a.action, a.target, a.url) != (b.action, b.target, b.url) or b.action in ("scroll", "wait", "done"):
            return None
        for hit in relevant:
            loop = next((m for m in hit.episode.failure_modes if m.kind == "loop"), None)
            if loop is not None:
                return self._with_success(
                    relevant,
                    hit,
                    "You have now done the same action twice in a row; a past run on this site got stuck repeating "
                    "actions like this and failed. Change approach.",
                    [_problem(loop, hit.episode, situation.site)],
                    situation,
                    trigger="loop",
                    key=f"loop:{b.action}:{b.target}:{b.url}",
                    why=f"an action repeats ({describe(b)[:80]}), as in the loop of episode {hit.episode.id}",
                )
        return None

    def _dead_end(self, relevant: list[Hit], steps: tuple[Step, ...], situation: Situation) -> Advice | None:
        here = situation.url or steps[-1].url
        if not here or not on_site(here, situation.site):
            return None
        for hit in relevant:
            for mode in hit.episode.failure_modes:
                if mode.kind in ("dead_end", "http_error") and mode.url and short_url(mode.url) == short_url(here):
                    return self._with_success(
                        relevant,
                        hit,
                        "A past run on this site found the page you are on to be a dead end (below); go back and "
                        "take another route.",
                        [_problem(mode, hit.episode, situation.site)],
                        situation,
                        trigger="dead_end",
                        key=f"dead_end:{short_url(here)}",
                        why=f"episode {hit.episode.id} found this page leads nowhere",
                    )
        return None

    def _over_budget(self, relevant: list[Hit], steps: tuple[Step, ...], situation: Situation) -> Advice | None:
        successes = [h for h in relevant if h.episode.outcome is Outcome.SUCCESS and h.episode.step_count > 0]
        if not successes:
            return None
        # Episode.step_count counts actions (one browser-use step may hold several), so count the live run's actions too.
        longest = max(h.episode.step_count for h in successes)
        if len(steps) <= longest + self.settings.step_margin:
            return None
        best = successes[0]
        return Advice(
            text=f"You have taken {len(steps)} steps so far; similar successful runs on this site needed at most "
            f"{longest} steps. If you already have the answer, finish now.",
            observations=_success_observations(best.episode, situation),
            episode_ids=[h.episode.id for h in successes[:2]],
            why=f"past successes took <= {longest} steps",
            confidence=_confidence(successes[:2]),
            trigger="over_budget",
            key="over_budget",
        )

    def _shorter_path(self, relevant: list[Hit], steps: tuple[Step, ...], situation: Situation) -> Advice | None:
        here = situation.url or steps[-1].url
        if not on_site(here, situation.site):
            return None  # off the run's site no route of this site applies, and none of another site is offered
        # Only the best-ranked success with a route is compared against: an agent on its route is on a known-good path,
        # and a lower-ranked success (in the demo, "Sign in" for a book search) must not pull it elsewhere.
        found = next(((h, r) for h in relevant if h.episode.outcome is Outcome.SUCCESS and (r := _route(h.episode))), None)
        if found is None:
            return None
        best, route = found
        ep = best.episode
        if len(steps) < max(2, ep.step_count // 2):
            return None
        pages = [p.strip() for p in route.split("->")]
        if not here or short_url(here) in pages:
            return None
        # A route's last page is its own task's answer (the cooking catalog): a similar task (history books) ends
        # elsewhere, so leaving the route at its last hop is where such tasks part, not a detour. The same task still
        # hears the route.
        came_from = next((short_url(s.url) for s in reversed(steps) if s.url and short_url(s.url) != short_url(here)), None)
        if len(pages) >= 2 and came_from == pages[-2] and ep.task.casefold() != situation.task.casefold():
            return None
        return Advice(
            text="A past run on this site reached the answer by the route below, which does not pass through "
            "the page you are on. Consider taking it.",
            observations=_success_observations(ep, situation),
            episode_ids=[ep.id],
            why=f"episode {ep.id} reached the answer by a shorter path",
            confidence=_confidence([best]),
            trigger="shorter_path",
            key=f"shorter_path:{ep.id}",
        )

    def _with_success(
        self,
        relevant: list[Hit],
        cause: Hit,
        text: str,
        observations: list[Observation],
        situation: Situation,
        *,
        trigger: Trigger,
        key: str,
        why: str,
    ) -> Advice:
        cited = [cause]
        success = next((h for h in relevant if h.episode.outcome is Outcome.SUCCESS and h is not cause), None)
        if success is not None:
            text = f"{text} A similar run on this site succeeded (route below)."
            observations = [*observations, *_success_observations(success.episode, situation)]
            cited.append(success)
        return Advice(
            text=text,
            observations=observations[:MAX_OBSERVATIONS],
            episode_ids=[h.episode.id for h in cited],
            why=why,
            confidence=_confidence(cited),
            trigger=trigger,
            key=key,
        )


def _confidence(hits: list[Hit]) -> float:
    if not hits:
        return 0.0
    return round(max(0.0, min(1.0, max(h.similarity for h in hits))), 3)
