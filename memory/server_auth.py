"""Credentials for a Chroma server, from the URL or the environment, in the shape Chroma's client auth expects.

    WEBCOACH_CHROMA_URL=https://USER:PASSWORD@chroma.internal:8000   -> basic auth
    WEBCOACH_CHROMA_TOKEN=...                                          -> token auth (Authorization: Bearer ...)
    WEBCOACH_CHROMA_TOKEN_HEADER=X-Chroma-Token                        -> the token in Chroma's own header instead
    WEBCOACH_CHROMA_TENANT / WEBCOACH_CHROMA_DATABASE                  -> a tenant and database other than the defaults

Credentials are never part of what is printed: `display_url` drops them, and `scrub` removes them from error text.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from webcoach.errors import ConfigError

ENV_CHROMA_TOKEN = "WEBCOACH_CHROMA_TOKEN"
ENV_CHROMA_TOKEN_HEADER = "WEBCOACH_CHROMA_TOKEN_HEADER"
ENV_CHROMA_TENANT = "WEBCOACH_CHROMA_TENANT"
ENV_CHROMA_DATABASE = "WEBCOACH_CHROMA_DATABASE"
_HEADERS = ("Authorization", "X-Chroma-Token")


@dataclass(frozen=True, kw_only=True)
class ServerAuth:
    display_url: str  # the URL without credentials: safe to print
    kind: Literal["basic", "token"] | None = None
    credentials: str | None = field(default=None, repr=False)  # "user:password" or the token
    header: str | None = None
    tenant: str | None = None
    database: str | None = None

    def headers(self) -> dict[str, str]:
        """The headers Chroma's client auth would send (for requests webcoach makes itself, like the heartbeat)."""
        if self.kind == "basic" and self.credentials:
            return {"Authorization": "Basic " + base64.b64encode(self.credentials.encode()).decode()}
        if self.kind == "token" and self.credentials:
            return (
                {"Authorization": f"Bearer {self.credentials}"}
                if self.header == "Authorization"
                else {"X-Chroma-Token": self.credentials}
            )
        return {}

    def scrub(self, text: str) -> str:
        """`text` with every form of the credentials removed."""
        if not self.credentials:
            return text
        for secret in {self.credentials, *self.credentials.split(":", 1)}:
            if len(secret) >= 3:
                text = text.replace(secret, "[REDACTED]")
        return text


def server_auth(url: str | None, *, token: str | None = None) -> ServerAuth:
    """The auth for a server URL: URL credentials (basic) or a token (argument > WEBCOACH_CHROMA_TOKEN)."""
    tenant = os.environ.get(ENV_CHROMA_TENANT) or None
    database = os.environ.get(ENV_CHROMA_DATABASE) or None
    if url is None:
        return ServerAuth(display_url="", tenant=tenant, database=database)
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    display = urlunsplit((parts.scheme, host, parts.path, "", ""))
    chosen = token if token is not None else (os.environ.get(ENV_CHROMA_TOKEN) or None)
    if parts.username is not None and chosen is not None:
        raise ConfigError(f"Chroma server {display}: give either credentials in the URL or {ENV_CHROMA_TOKEN}, not both")
    if parts.username is not None:
        user, password = unquote(parts.username), unquote(parts.password or "")
        return ServerAuth(display_url=display, kind="basic", credentials=f"{user}:{password}", tenant=tenant, database=database)
    if chosen is not None:
        header = os.environ.get(ENV_CHROMA_TOKEN_HEADER) or "Authorization"
        if header not in _HEADERS:
            raise ConfigError(f"{ENV_CHROMA_TOKEN_HEADER} must be one of {', '.join(_HEADERS)}, not {header!r}")
        return ServerAuth(display_url=display, kind="token", credentials=chosen, header=header, tenant=tenant, database=database)
    return ServerAuth(display_url=display, tenant=tenant, database=database)
