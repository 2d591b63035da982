"""Shared fixtures. Everything is real (Chroma on a temp dir, Debian chromium, local pages) except LLMs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# browser-use reads these at import time: keep it offline, quiet and out of the host's logging.
for _key, _value in {
    "ANONYMIZED_TELEMETRY": "false",
    "BROWSER_USE_CLOUD_SYNC": "false",
    "BROWSER_USE_VERSION_CHECK": "false",
    "BROWSER_USE_CLOUD_HINTS": "false",
    "BROWSER_USE_DISABLE_EXTENSIONS": "1",
    "BROWSER_USE_SETUP_LOGGING": "false",
}.items():
    os.environ.setdefault(_key, _value)
os.environ.pop("ANTHROPIC_API_KEY", None)
os.environ.pop("WEBCOACH_CHROMA_URL", None)

from webcoach.condenser import models  # noqa: E402
from webcoach.tasks.site import SITES_DIR, serve  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own WEBCOACH_HOME and may not reach a real LLM."""
    monkeypatch.setenv("WEBCOACH_HOME", str(tmp_path / "webcoach-home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for key in ("WEBCOACH_NAMESPACE", "WEBCOACH_EMBEDDER", "WEBCOACH_EMBED_MODEL_DIR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", False)
    yield


@pytest.fixture(scope="session")
def site() -> Iterator[str]:
    """Base URL of the bundled local sites (tasks/sites/) served on 127.0.0.1; the shop is at {site}/shop/."""
    with serve(SITES_DIR) as base:
        yield base


@pytest.fixture(scope="session")
def chromium() -> str:
    if CHROMIUM is None:
        pytest.fail("Debian chromium is required for browser tests: apt-get install -y chromium")
    return CHROMIUM
