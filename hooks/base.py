"""Hook objects: one async method per moment of a run, each doing nothing by default, so a subclass overrides only
what it needs (in the spirit of pydantic-ai's capabilities)."""

from __future__ import annotations

from typing import Any


class RunHooks:
    async def before_step(self, agent: Any) -> None:
        """Called before each agent step (browser-use `on_step_start`)."""

    async def after_step(self, agent: Any) -> None:
        """Called after each agent step, once its history item is recorded (browser-use `on_step_end`)."""

    async def on_done(self, history: Any) -> Any:
        """Called once with the finished run's history."""
        return None
