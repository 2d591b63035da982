"""The Python API keeps browser-use's anonymous telemetry off unless the user chose otherwise (the CLI always did)."""

from __future__ import annotations

from pathlib import Path

import pytest
from webcoach.coach.coach import Coach
from webcoach.hooks.browser_session import make_browser_profile
from webcoach.hooks.browser_use import CoachingSession
from webcoach.hooks.scripted import ScriptedLLM
from webcoach.memory.store import EpisodeStore


def _agent(tmp_path: Path, chromium: str) -> object:
    from browser_use import Agent

    return Agent(
        task="t", llm=ScriptedLLM([]), browser_profile=make_browser_profile(tmp_path / "profile", executable_path=chromium)
    )


@pytest.mark.usefixtures("offline_browser_use")
def test_a_coached_agent_sends_no_telemetry_unless_the_user_set_it(
    tmp_path: Path, chromium: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANONYMIZED_TELEMETRY", raising=False)
    agent = _agent(tmp_path, chromium)
    agent.telemetry._posthog_client = object()  # type: ignore[attr-defined]  # as if it had been switched on
    with EpisodeStore(path=tmp_path / "store", embedder="hashing") as store:
        CoachingSession(Coach(store), agent)
        assert agent.telemetry._posthog_client is None  # type: ignore[attr-defined]
        import os

        assert os.environ["ANONYMIZED_TELEMETRY"] == "false"

        monkeypatch.setenv("ANONYMIZED_TELEMETRY", "true")  # the user's own choice stands
        client = object()
        agent.telemetry._posthog_client = client  # type: ignore[attr-defined]
        CoachingSession(Coach(store), agent)
        assert agent.telemetry._posthog_client is client  # type: ignore[attr-defined]
        agent.telemetry._posthog_client = None  # type: ignore[attr-defined]  # the singleton outlives this test
