"""The browser side of a browser-use run: find a Chromium, build a BrowserProfile that works offline with Debian
chromium, and the environment that keeps browser-use from phoning home.

Nothing here touches the environment: `offline_env()` returns the variables and the caller decides where to set them
(browser-use reads several of them when it is first imported).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from webcoach.errors import ConfigError
from webcoach.settings import ENV_BROWSER

if TYPE_CHECKING:
    from browser_use import BrowserProfile


_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_PATHS = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/snap/bin/chromium",
    "/usr/bin/google-chrome",
    "/opt/google/chrome/chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
_NOT_FOUND = f"no Chromium found: apt-get install -y chromium, or pass --browser PATH / set {ENV_BROWSER}"


def find_chromium(explicit: str | os.PathLike[str] | None = None) -> str:
    """The Chromium/Chrome to drive: `explicit` > $WEBCOACH_BROWSER > PATH names > common install paths."""
    chosen = str(explicit) if explicit is not None else os.environ.get(ENV_BROWSER) or None
    if chosen is not None:
        resolved = shutil.which(chosen) or (chosen if _is_executable(chosen) else None)
        if resolved is None:
            where = "--browser" if explicit is not None else ENV_BROWSER
            raise ConfigError(f"browser {chosen!r} (from {where}) is not an executable file: {_NOT_FOUND}")
        return resolved
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    for path in _PATHS:
        if _is_executable(path):
            return path
    raise ConfigError(_NOT_FOUND)


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def offline_env(config_dir: Path | None = None) -> dict[str, str]:
    """browser-use's environment for an offline, quiet run: no telemetry, cloud sync, version check (which calls the
    package index), cloud hints, extension downloads, or logging set up on import. With `config_dir`, browser-use keeps
    its config files there instead of ~/.config/browseruse."""
    env = {
        "ANONYMIZED_TELEMETRY": "false",
        "BROWSER_USE_CLOUD_SYNC": "false",
        "BROWSER_USE_VERSION_CHECK": "false",
        "BROWSER_USE_CLOUD_HINTS": "false",
        "BROWSER_USE_DISABLE_EXTENSIONS": "1",
        "BROWSER_USE_SETUP_LOGGING": "false",
    }
    if config_dir is not None:
        env["BROWSER_USE_CONFIG_DIR"] = str(config_dir)
    return env


def make_browser_profile(
    user_data_dir: Path,
    *,
    headless: bool = True,
    executable_path: str | None = None,
) -> BrowserProfile:
    """A BrowserProfile for one agent. Two agents at once need two `user_data_dir`s (Chromium locks its profile).

    The sandbox is off because Debian chromium in containers cannot create it; the default extensions are off because
    browser-use would download them; keep_alive is off so `agent.run()` closes the browser when it ends."""
    if "chrome" in str(user_data_dir).lower():
        # browser-use treats such a path as a real Chrome profile and silently runs on a temp copy instead.
        raise ConfigError(f"user_data_dir {user_data_dir} contains 'chrome': pick a path without it (e.g. .../webcoach-profile)")
    from browser_use import BrowserProfile  # browser-use is heavy to import; only pay for it when a browser is wanted

    return BrowserProfile(
        executable_path=executable_path or find_chromium(),
        headless=headless,
        chromium_sandbox=False,
        enable_default_extensions=False,
        user_data_dir=str(user_data_dir),
        downloads_path=str(user_data_dir / "Downloads"),
        keep_alive=False,
    )
