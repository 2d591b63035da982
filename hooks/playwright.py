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
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext
    from playwright.sync_api import BrowserContext as SyncBrowserContext


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
        try:
            await context.tracing.stop(path=str(target))
        except PlaywrightError:
            pass
        raise
    await context.tracing.stop(path=str(target))


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
        try:
            context.tracing.stop(path=str(target))
        except PlaywrightError:
            pass
        raise
    context.tracing.stop(path=str(target))
