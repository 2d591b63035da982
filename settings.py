"""Where settings come from, in one place: explicit argument > environment variable > default."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from platformdirs import user_data_dir
from webcoach.errors import ConfigError

ENV_HOME = "WEBCOACH_HOME"
ENV_CHROMA_URL = "WEBCOACH_CHROMA_URL"
ENV_NAMESPACE = "WEBCOACH_NAMESPACE"
ENV_EMBEDDER = "WEBCOACH_EMBEDDER"
ENV_EMBED_MODEL_DIR = "WEBCOACH_EMBED_MODEL_DIR"
ENV_EMBED_DOWNLOAD = "WEBCOACH_EMBED_DOWNLOAD"  # 0/false/no/off: never download the MiniLM model on first use
ENV_EMBED_MODEL_URL = "WEBCOACH_EMBED_MODEL_URL"  # a mirror of Chroma's onnx.tar.gz (with ENV_EMBED_MODEL_SHA256)
ENV_EMBED_MODEL_SHA256 = "WEBCOACH_EMBED_MODEL_SHA256"
ENV_BROWSER = "WEBCOACH_BROWSER"  # read by hooks/browser_session.find_chromium
ENV_CHROMA_TIMEOUT = "WEBCOACH_CHROMA_TIMEOUT"
ENV_MAX_INPUT_MB = "WEBCOACH_MAX_INPUT_MB"
ENV_MAX_INPUT_LINES = "WEBCOACH_MAX_INPUT_LINES"

# Seconds any one Chroma server call may take (the coach's reads use its own, shorter timeout_s): a stopped or
# overloaded server must give an error, not hang a command or a coached run.
DEFAULT_CHROMA_TIMEOUT_S = 15.0
# A log member (trace.trace, trace.network, a HAR or history file) bigger than this, or with more lines, is refused
# before it is read whole: real traces of 20k actions are ~100k lines, and a zip bomb must not take the memory.
DEFAULT_MAX_INPUT_MB = 512
DEFAULT_MAX_INPUT_LINES = 2_000_000

DEFAULT_NAMESPACE = "default"
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,46}[A-Za-z0-9]$|^[A-Za-z0-9]$")


@dataclass(frozen=True, kw_only=True)
class Settings:
    home: Path
    chroma_url: str | None
    namespace: str
    embedder: str | None  # None: whatever the collection was built with, else the best available
    embed_model_dir: Path | None
    chroma_timeout_s: float = DEFAULT_CHROMA_TIMEOUT_S

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"


def _pick(explicit: str | float | os.PathLike[str] | None, env: str) -> str | None:
    if explicit is not None:
        return str(explicit)
    value = os.environ.get(env)
    return value if value else None


@dataclass(frozen=True, kw_only=True)
class InputLimits:
    max_bytes: int
    max_lines: int


def _positive(value: str | None, env: str, option: str, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0 or number == float("inf"):
        raise ConfigError(f"{option} must be a positive number, not {value!r} (set {env} or {option})")
    return number


def input_limits(max_mb: float | None = None, max_lines: int | None = None) -> InputLimits:
    """How big a log may be: argument > WEBCOACH_MAX_INPUT_MB / WEBCOACH_MAX_INPUT_LINES > default."""
    mb = _positive(_pick(max_mb, ENV_MAX_INPUT_MB), ENV_MAX_INPUT_MB, "max_mb", DEFAULT_MAX_INPUT_MB)
    lines = _positive(_pick(max_lines, ENV_MAX_INPUT_LINES), ENV_MAX_INPUT_LINES, "max_lines", DEFAULT_MAX_INPUT_LINES)
    return InputLimits(max_bytes=int(mb * 1024 * 1024), max_lines=int(lines))


def check_chroma_url(url: str) -> str:
    """http(s)://HOST[:PORT] with a port in range; checked here so a typo is one line, not a traceback from deep in
    the HTTP client."""
    problem = None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        problem = str(exc)
    else:
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "expected http://HOST:PORT"
        elif port == 0:
            problem = "port 0"
    if problem is not None:
        raise ConfigError(
            f"Chroma server URL {url!r} is not valid ({problem}): use http://HOST:PORT, e.g. http://127.0.0.1:8000 "
            f"(--chroma-url or {ENV_CHROMA_URL})"
        )
    return url


def check_namespace(namespace: str) -> str:
    if not _NAMESPACE_RE.match(namespace):
        raise ConfigError(
            f"namespace {namespace!r} is not valid: use 1-48 letters, digits, '-' or '_' (e.g. 'default', 'team-a')"
        )
    return namespace


def resolve(
    *,
    home: str | os.PathLike[str] | None = None,
    chroma_url: str | None = None,
    namespace: str | None = None,
    embedder: str | None = None,
    embed_model_dir: str | os.PathLike[str] | None = None,
    chroma_timeout_s: float | None = None,
) -> Settings:
    home_s = _pick(home, ENV_HOME)
    url = _pick(chroma_url, ENV_CHROMA_URL)
    if url is not None:
        check_chroma_url(url)
    model_dir = _pick(embed_model_dir, ENV_EMBED_MODEL_DIR)
    return Settings(
        home=Path(home_s).expanduser() if home_s else Path(user_data_dir("webcoach", appauthor=False)),
        chroma_url=url,
        namespace=check_namespace(_pick(namespace, ENV_NAMESPACE) or DEFAULT_NAMESPACE),
        embedder=_pick(embedder, ENV_EMBEDDER),
        embed_model_dir=Path(model_dir).expanduser() if model_dir else None,
        chroma_timeout_s=_positive(
            _pick(chroma_timeout_s, ENV_CHROMA_TIMEOUT), ENV_CHROMA_TIMEOUT, "timeout_s", DEFAULT_CHROMA_TIMEOUT_S
        ),
    )


MCP_TOKEN_ENV = "WEBCOACH_MCP_TOKEN"


def mcp_token(explicit: str | None = None) -> str | None:
    """The bearer token `webcoach mcp --http` requires of every request (--token > WEBCOACH_MCP_TOKEN > none)."""
    token = _pick(explicit, MCP_TOKEN_ENV)
    return token.strip() if token and token.strip() else None
