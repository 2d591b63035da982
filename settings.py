"""Where settings come from, in one place: explicit argument > environment variable > default."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

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

DEFAULT_NAMESPACE = "default"
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,46}[A-Za-z0-9]$|^[A-Za-z0-9]$")


@dataclass(frozen=True, kw_only=True)
class Settings:
    home: Path
    chroma_url: str | None
    namespace: str
    embedder: str | None  # None: whatever the collection was built with, else the best available
    embed_model_dir: Path | None

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"


def _pick(explicit: str | os.PathLike[str] | None, env: str) -> str | None:
    if explicit is not None:
        return str(explicit)
    value = os.environ.get(env)
    return value if value else None


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
) -> Settings:
    home_s = _pick(home, ENV_HOME)
    url = _pick(chroma_url, ENV_CHROMA_URL)
    if url is not None and not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(f"Chroma server URL {url!r} is not valid: use http://HOST:PORT (set {ENV_CHROMA_URL} or --url)")
    model_dir = _pick(embed_model_dir, ENV_EMBED_MODEL_DIR)
    return Settings(
        home=Path(home_s).expanduser() if home_s else Path(user_data_dir("webcoach", appauthor=False)),
        chroma_url=url,
        namespace=check_namespace(_pick(namespace, ENV_NAMESPACE) or DEFAULT_NAMESPACE),
        embedder=_pick(embedder, ENV_EMBEDDER),
        embed_model_dir=Path(model_dir).expanduser() if model_dir else None,
    )
