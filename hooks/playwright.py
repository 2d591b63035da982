"""Record a Playwright trace that webcoach can condense.

    async with record_trace(context, "run.zip"):
        page = await context.new_page()
        ...
    episode = webcoach.condense("run.zip", task="...")

DOM snapshots are on (they give each step its page URL, the network log its HTTP statuses, and let the condenser find
password fields); screenshots are off (webcoach never reads them) and so are sources (they would copy the user's code,
secrets included, into the zip). The trace is written even when the block raises, since failed runs teach the most.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext
    from playwright.sync_api import BrowserContext as SyncBrowserContext
    from webcoach.coach.advice import Advice
    from webcoach.coach.coach import Coach
    from webcoach.condenser.episode import Episode


@asynccontextmanager
async def record_trace(context: BrowserContext, path: str | Path) -> AsyncIterator[Path]:
    """Trace everything done with `context` inside the block into the trace.zip at `path` (yielded as a Path)."""
    from playwright.async_api import Error as PlaywrightError

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    await context.tracing.start(snapshots=True, screenshots=False, sources=False)
    try:
        yield target
    except BaseException:
        # The block's own error matters more than a failure to save (e.g. it closed the context).
        with suppress(PlaywrightError):
            await context.tracing.stop(path=str(target))
        _private(target)
        raise
    await context.tracing.stop(path=str(target))
    _private(target)


@contextmanager
def record_trace_sync(context: SyncBrowserContext, path: str | Path) -> Iterator[Path]:
    """`record_trace` for Playwright's sync API."""
    from playwright.sync_api import Error as PlaywrightError

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    context.tracing.start(snapshots=True, screenshots=False, sources=False)
    try:
        yield target
    except BaseException:
        with suppress(PlaywrightError):
            context.tracing.stop(path=str(target))
        _private(target)
        raise
    context.tracing.stop(path=str(target))
    _private(target)


def _private(trace: Path) -> None:
    """A trace holds what was typed, passwords included (the condenser masks them, the zip does not): owner only.
    Playwright writes it with the umask's mode."""
    from webcoach.memory.files import FILE_MODE

    with suppress(OSError):  # not written (the context was closed first): nothing to protect
        trace.chmod(FILE_MODE)


class Watcher:
    """What `watch(coach, context, task=...)` yields: set `outcome` inside the block when the script knows how it went;
    after the block, `episode` is the stored episode (None if the run could not be condensed or stored). A script
    that drives its own model can ask `await run.advise(page.url)` for the coach's advice: it is given under the coach's
    budget, recorded in the advice log, and its episodes are credited or blamed with the run's outcome."""

    def __init__(self, trace: Path, context: BrowserContext | None = None, *, coach: Coach | None = None, task: str = "") -> None:
        from webcoach.memory.advice_log import new_run_id

        self.trace = trace
        self.context = context  # the context being traced (the one `watch` launched, when given none)
        self._outcome: str | None = None
        self.episode: Episode | None = None
        self.given: list[Advice] = []
        self.run_id = new_run_id()
        self._coach = coach
        self._task = task

    async def advise(self, url: str | None = None, *, step: int | None = None) -> Advice | None:
        """The coach's advice for this run now, on the page at `url` (None: nothing worth saying). Never raises."""
        from webcoach.hooks.keep import log_advice

        if self._coach is None:
            return None
        advice = await self._coach.advise(self._task, url, step=step, given=self.given)
        if advice is not None:
            self.given.append(advice)
            await log_advice(self._coach.store, advice, run=self.run_id, channel="watch", task=self._task)
        return advice

    @property
    def outcome(self) -> str | None:
        """'success' or 'failure': a verdict from the script itself (None: unknown)."""
        return self._outcome

    @outcome.setter
    def outcome(self, value: str | None) -> None:
        # Checked here, inside the script, where a typo can still be fixed; after the block it would cost the run.
        if value not in (None, "success", "failure"):
            raise ValueError(f"outcome must be 'success', 'failure' or None, not {value!r}")
        self._outcome = value


@asynccontextmanager
async def watch(
    coach: Coach,
    context: BrowserContext | None = None,
    *,
    task: str,
    path: str | Path | None = None,
    keep_trace: bool = False,
    browser: str | None = None,
    headless: bool = True,
) -> AsyncIterator[Watcher]:
    """Trace a Playwright script's `context`; when the block ends the trace is saved, condensed and stored in the coach's
    memory, and the context is closed. A failure to ingest is logged, never raised: the script's own work comes first.

    Without a `context`, watch launches the system Chromium itself (`browser` > $WEBCOACH_BROWSER > found on PATH, as
    `webcoach demo` does: Playwright's own browser download is not needed) and the script uses `run.context`.

    The raw trace holds everything the script typed, passwords included: it is deleted once condensed unless
    `keep_trace=True` (then it stays at `path`, or under $WEBCOACH_HOME/runs, as a 0600 file)."""
    if context is not None:
        async with _watch(coach, context, task=task, path=path, keep_trace=keep_trace) as watcher:
            yield watcher
        return
    from playwright.async_api import async_playwright
    from webcoach.hooks.browser_session import find_chromium

    executable = find_chromium(browser)  # a clear one-line error before anything starts
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=executable, headless=headless)
        try:
            async with _watch(coach, await launched.new_context(), task=task, path=path, keep_trace=keep_trace) as watcher:
                yield watcher
        finally:
            await launched.close()


@asynccontextmanager
async def _watch(
    coach: Coach, context: BrowserContext, *, task: str, path: str | Path | None, keep_trace: bool
) -> AsyncIterator[Watcher]:
    import logging
    import os
    import tempfile

    from playwright.async_api import Error as PlaywrightError
    from webcoach.condenser.condense import acondense_all
    from webcoach.errors import WebcoachError
    from webcoach.hooks.keep import keep_run
    from webcoach.memory.files import private_dir
    from webcoach.settings import resolve

    log = logging.getLogger("webcoach")
    made_path = path is None
    if path is None:
        folder = private_dir(resolve().runs_dir)
        handle, name = tempfile.mkstemp(prefix="trace-", suffix=".zip", dir=folder)
        os.close(handle)  # only a fresh name was wanted: Playwright writes the file
        path = Path(name)
    watcher = Watcher(Path(path), context, coach=coach, task=task)
    failed = False
    saved = True
    try:
        async with record_trace(context, watcher.trace):
            try:
                yield watcher
            except BaseException:
                failed = True
                raise
    except PlaywrightError as exc:
        if failed:
            raise
        # The script's work went fine, but the trace could not be saved: it closed the context (or browser) itself.
        saved = False
        log.warning(
            "webcoach: the watched run was not stored: its trace could not be saved (%s); leave the context open inside "
            "the `watch` block, which closes it for you",
            str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
        )
    finally:
        with suppress(Exception):  # the script may have closed it already
            await context.close()
        if not saved and made_path:
            watcher.trace.unlink(missing_ok=True)
        outcome = watcher.outcome or ("failure" if failed else None)
        try:
            if saved:
                # The script's own verdict (or its exception) is the script's claim, as an agent's is: nobody vouches for it.
                episode, *parts = await acondense_all(
                    watcher.trace, task=task, outcome=outcome, outcome_by="agent" if outcome else None
                )
                cited = [i for a in watcher.given for i in a.episode_ids]
                await keep_run(coach.store, episode, parts=parts, cited=cited, run=watcher.run_id if watcher.given else None)
                watcher.episode = episode
        except WebcoachError as exc:
            log.warning("webcoach: could not store the watched run (%s)", exc)
        finally:
            if not keep_trace:  # a kept one is already private (record_trace)
                watcher.trace.unlink(missing_ok=True)
