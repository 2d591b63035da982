"""URL parsing that never raises. Logs hold whatever agents typed: placeholder URLs such as `https://[website].com/r`
make `urllib.parse.urlsplit` raise ValueError (a bracketed host that is not an IP address), and `.port` raises on
`:99999`. One such URL must not lose a run, so every URL in the condenser (redaction, rules, domains, sites) goes
through these helpers: an unparsable URL is kept as text and simply has no host."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

__all__ = ["host_of", "port_of", "short_url", "split_url"]


def split_url(url: str | None) -> SplitResult | None:
    """`urlsplit(url)`, or None when the URL cannot be parsed (or is empty)."""
    if not url:
        return None
    try:
        return urlsplit(url)
    except ValueError:
        return None


def host_of(url: str | None) -> str | None:
    """The lower-case host name, or None for a URL without a readable host."""
    parts = split_url(url)
    if parts is None:
        return None
    try:
        host = parts.hostname
    except ValueError:
        return None
    return host or None


def port_of(url: str | None) -> int | None:
    """The explicit port, or None when there is none or it is not a number in 0-65535."""
    parts = split_url(url)
    if parts is None:
        return None
    try:
        return parts.port
    except ValueError:
        return None


def short_url(url: str | None) -> str:
    """A URL as a person would name it in advice: host + path, no scheme/query noise."""
    if not url:
        return "?"
    parts = split_url(url)
    if parts is not None and parts.scheme in ("http", "https"):
        path = parts.path if parts.path not in ("", "/") else "/"
        return f"{parts.netloc}{path}"
    return url[:80]
