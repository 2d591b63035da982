"""URL parsing as a browser parses it, and never raising.

Where a URL decides a site, it must be read the way Chromium reads it (the WHATWG URL standard), not the way Python's
`urlsplit` does: `http://a.test\\@www.amazon.com/x` opens a.test in a browser while `urlsplit` says www.amazon.com, so
a run entirely on an attacker's site would be filed under amazon.com. Tabs and newlines inside a URL are dropped,
backslashes are slashes, and hosts are IDNA-mapped (`evil。test` is `evil.test`, Cyrillic look-alikes are punycode).
The parser is `ada-url`, the one Node.js uses.

Logs also hold whatever agents typed: placeholder URLs such as `https://[website].com/r` or `:99999` ports are not URLs
to a browser. One such URL must not lose a run, so every URL in the condenser goes through these helpers: an
unparsable URL is kept as text and simply has no host.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import SplitResult, urlsplit

from ada_url import URL

__all__ = ["browser_url", "host_of", "port_of", "short_url", "split_url"]


@lru_cache(maxsize=4096)
def browser_url(url: str | None) -> str | None:
    """The URL as a browser would open it (WHATWG-serialised), or None when a browser would not open it at all."""
    if not url:
        return None
    try:
        return URL(url.strip()).href
    except ValueError:
        return None


def split_url(url: str | None) -> SplitResult | None:
    """The parts of `url` as a browser reads them; for text a browser rejects, `urlsplit`'s lenient reading (so that
    secrets in its query are still found), or None when even that fails."""
    if not url:
        return None
    try:
        return urlsplit(browser_url(url) or url)
    except ValueError:
        return None


def host_of(url: str | None) -> str | None:
    """The lower-case host name a browser would connect to, or None for a URL without one."""
    href = browser_url(url)
    if href is None:
        return None
    try:
        host = urlsplit(href).hostname
    except ValueError:
        return None
    return host or None


def port_of(url: str | None) -> int | None:
    """The explicit port (a default port is no port, as in a browser), or None."""
    href = browser_url(url)
    if href is None:
        return None
    try:
        return urlsplit(href).port
    except ValueError:
        return None


def short_url(url: str | None) -> str:
    """A URL as a person would name it in advice: host + path, no scheme/query noise."""
    if not url:
        return "?"
    href = browser_url(url)
    parts = split_url(href) if href else None
    if parts is not None and parts.scheme in ("http", "https"):
        path = parts.path if parts.path not in ("", "/") else "/"
        return f"{parts.netloc}{path}"
    return url[:80]
