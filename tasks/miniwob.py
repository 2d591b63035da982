"""The MiniWoB++ suite: the `miniwob` package's task pages served locally, seeded, with a long episode time limit, and
their own in-page reward as the judge (no LLM scores them).

How a MiniWoB page runs (read in the package's html/core/core.js): on load it calls `core.startEpisode()`, which only
shows a START cover; `core.startEpisodeReal()` generates the problem from `Math.random` and starts a timer of
`core.EPISODE_MAX_TIME` ms (10 s by default, far too short for an LLM agent); the page's own handlers call
`core.endEpisode(reward, time_proportional, reason)`, which sets `WOB_RAW_REWARD_GLOBAL` (-1..1), the time-scaled
`WOB_REWARD_GLOBAL` and `WOB_DONE_GLOBAL`, then shows the cover again (a click on it would start a new episode and
reset the reward). The package's own Python driver seeds with `Math.seedrandom(seed)` before starting.

Rewards must not be forgeable by the agent under test: page globals can be written by any script in the page, and
core.endEpisode can be called by one. So the agent gets no script action (browser-use's `evaluate` is disabled for
MiniWoB runs by default), the result sits in a read-only property no later script can replace, and the probe checks
that it came from the task's own page and seed (see RewardProbe).

`build_site()` copies the pages and appends a small script to each that, once the page has loaded, seeds
`Math.random` from `?seed=`, sets the time limit from `?episode_ms=`, starts the episode, and keeps the FIRST episode's
result in `window.WEBCOACH_MINIWOB` (the cover then says EPISODE OVER and no longer starts another). `RewardProbe`
reads that object after every agent step, through browser-use's CDP page, and stops the agent once the episode is over.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from webcoach.errors import ConfigError
from webcoach.tasks.taskset import SITE_PLACEHOLDER, Task

EXTRA_HINT = "install the eval extra: pip install 'webcoach[eval]'"
DEFAULT_EPISODE_S = 600.0  # an LLM agent takes 5-20 s a step; ten minutes is ample for a 30-step budget
RESULT_JS = "() => JSON.stringify(window.WEBCOACH_MINIWOB === undefined ? null : window.WEBCOACH_MINIWOB)"

BOOT_JS = """
// Added by webcoach: one seeded episode with a long time limit, started on load; its result kept for the harness in a
// read-only property that records which page and seed produced it (no later script can overwrite or redefine it).
(function () {
  var params = core.QueryString;
  var result = null;
  Object.defineProperty(window, 'WEBCOACH_MINIWOB', {
    get: function () { return result; }, set: function () {}, configurable: false, enumerable: false
  });
  window.addEventListener('load', function () {
    setTimeout(function () {  // after the page's own onload (core.startEpisode), wherever it was set
      if (params.episode_ms) core.EPISODE_MAX_TIME = parseInt(params.episode_ms, 10);
      if (core.cover_div === null) core.startEpisode();
      if (params.seed !== undefined) Math.seedrandom(params.seed);
      var page = location.pathname.split('/').pop().replace(/\\.html$/, '');
      var seed = params.seed === undefined ? null : String(params.seed);
      var end = core.endEpisode;
      core.endEpisode = function () {
        var first = result === null && core.EP_TIMER !== null;
        var out = end.apply(this, arguments);
        if (first) {
          result = Object.freeze({done: true, reward: WOB_REWARD_GLOBAL, raw_reward: WOB_RAW_REWARD_GLOBAL,
                                  reason: WOB_REWARD_REASON == null ? null : String(WOB_REWARD_REASON),
                                  task: page, seed: seed});
          core.cover_div.innerHTML = 'EPISODE OVER';
          core.cover_div.onclick = null;
        }
        return out;
      };
      core.startEpisodeReal();
    }, 0);
  });
})();
"""
# Browser-use actions that run the agent's own script in the page: with them an agent can call core.endEpisode(1.0)
# itself. They are off for MiniWoB++ runs unless the eval is told otherwise.
SCRIPT_ACTIONS = ("evaluate",)


@dataclass(frozen=True, kw_only=True)
class Reward:
    """The in-page result of one episode: `raw_reward` in -1..1 (> 0 is a success), `reward` scaled down by time taken."""

    reward: float
    raw_reward: float
    reason: str | None = None
    task: str | None = None  # the page and seed the result came from, as the boot script recorded them
    seed: str | None = None

    @property
    def success(self) -> bool:
        return self.raw_reward > 0


def package_html() -> Path:
    """The `miniwob` package's html folder."""
    try:
        import miniwob
    except ImportError:
        raise ConfigError(f"the MiniWoB++ suite needs the miniwob package: {EXTRA_HINT}") from None
    root = Path(miniwob.__file__).parent / "html"
    if not (root / "miniwob").is_dir():
        raise ConfigError(f"the miniwob package at {root.parent} has no html/miniwob pages: reinstall it ({EXTRA_HINT})")
    return root


def available_tasks() -> list[str]:
    """Every MiniWoB++ task name, e.g. click-tab-2, email-inbox, book-flight."""
    return sorted(p.stem for p in (package_html() / "miniwob").glob("*.html"))


def build_site(dest: Path) -> Path:
    """Write a servable copy of the MiniWoB++ pages (core/, common/, miniwob/*.html with the boot script) under `dest`."""
    source = package_html()
    dest.mkdir(parents=True, exist_ok=True)
    for folder in ("core", "common"):
        shutil.copytree(source / folder, dest / folder, dirs_exist_ok=True)
    pages = dest / "miniwob"
    pages.mkdir(exist_ok=True)
    for page in (source / "miniwob").glob("*.html"):
        html = page.read_text(encoding="utf-8")
        head, sep, tail = html.rpartition("</body>")
        boot = f"<script>{BOOT_JS}</script>\n"
        (pages / page.name).write_text(head + boot + sep + tail if sep else html + boot, encoding="utf-8")
    return dest


def miniwob_tasks(names: Sequence[str], episodes: int = 1, *, seed: int = 0, episode_s: float = DEFAULT_EPISODE_S) -> list[Task]:
    """`episodes` tasks per name, ids NAME--E, seeds seed+E: the same ids always pose the same problems."""
    if episodes < 1:
        raise ConfigError(f"episodes must be at least 1, not {episodes}")
    known = set(available_tasks())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown MiniWoB++ task(s) {', '.join(unknown)}: see webcoach.tasks.miniwob.available_tasks()")
    if not names:
        raise ConfigError("name at least one MiniWoB++ task, e.g. click-tab-2")
    limit_ms = int(episode_s * 1000)
    tasks: list[Task] = []
    for episode in range(episodes):  # episode-major: every task type early in the run, for the learning curve
        for name in names:
            tasks.append(
                Task(
                    id=f"{name}--{episode}",
                    site=name,
                    question=(
                        f"Solve the MiniWoB++ task '{name}' on this page: do exactly what the instruction in the yellow box "
                        "at the top of the page says. The episode ends as soon as the page has registered your answer."
                    ),
                    start_url=f"{SITE_PLACEHOLDER}/miniwob/{name}.html?seed={seed + episode}&episode_ms={limit_ms}",
                )
            )
    return tasks


def expected_page(task: Task) -> tuple[str, str | None]:
    """(MiniWoB task name, seed) that a task's reward must come from: its own page, with its own seed."""
    parts = urlsplit(task.start_url.replace(SITE_PLACEHOLDER, "http://site"))
    seed = parse_qs(parts.query).get("seed", [None])[0]
    return parts.path.rsplit("/", 1)[-1].removesuffix(".html"), seed


class RewardProbe:
    """Reads the episode's in-page result after each agent step (the browser is gone once the run ends) and stops the
    agent when the episode is over, as the MiniWoB environment does.

    A result counts only when the tab the harness reads (its URL asked of the browser over CDP, not of the page) is
    the task's own page with the task's own seed, and the result says it came from that page and seed: an agent that
    solves another task's page, or another seed of it, earns nothing. `rejected` says why a result did not count."""

    def __init__(self, task: Task | None = None, *, stop_when_done: bool = True) -> None:
        self.reward: Reward | None = None
        self.rejected: str | None = None
        self.expected = expected_page(task) if task is not None else None
        self.stop_when_done = stop_when_done

    async def after_step(self, agent: Any) -> None:
        if self.reward is not None:
            return
        url, found = await read_reward(agent.browser_session)
        if found is None:
            return
        why = self._mismatch(url, found)
        if why is None:
            self.reward = found
        else:
            self.rejected = why  # the episode on that page is over: nothing the agent does now can count
        if self.stop_when_done:
            agent.stop()

    def _mismatch(self, url: str | None, found: Reward) -> str | None:
        if self.expected is None:
            return None
        name, seed = self.expected
        parts = urlsplit(url or "")
        here_name = parts.path.rsplit("/", 1)[-1].removesuffix(".html")
        here_seed = parse_qs(parts.query).get("seed", [None])[0]
        if (here_name, here_seed) != (name, seed):
            return f"the reward came from {here_name or url!r} seed {here_seed}, not the task's page {name} seed {seed}"
        if (found.task, found.seed) != (name, seed):
            return f"the page reported a result for {found.task} seed {found.seed}, not {name} seed {seed}"
        return None


async def read_reward(browser_session: Any) -> tuple[str | None, Reward | None]:
    """(the current tab's URL, the first episode's result on it), the result None while it is running."""
    # Whatever fails here (a page mid-navigation, a closed tab, a CDP hiccup) means "no result yet": a probe runs in
    # an agent hook, where an exception would end the run.
    url: str | None = None
    with contextlib.suppress(Exception):
        url = await browser_session.get_current_page_url()
        page = await browser_session.must_get_current_page()
        raw = await page.evaluate(RESULT_JS)
        data = json.loads(raw) if raw else None
        if isinstance(data, dict) and data.get("done") is True:
            reason, task, seed = data.get("reason"), data.get("task"), data.get("seed")
            return url, Reward(
                reward=float(data.get("reward", 0.0)),
                raw_reward=float(data.get("raw_reward", 0.0)),
                reason=None if reason is None else str(reason),
                task=None if task is None else str(task),
                seed=None if seed is None else str(seed),
            )
    return url, None
