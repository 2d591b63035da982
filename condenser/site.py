"""Site identity: which registrable domain ("site") a URL belongs to, the unit that advice is scoped to.

The public-suffix list is the one bundled with `publicsuffixlist` (read from the installed package, never downloaded),
so `www.amazon.co.uk` and `smile.amazon.co.uk` are one site and `user1.github.io` / `user2.github.io` are two. IP
addresses and single-label hosts (localhost) are their own site. Everything that compares sites calls this module.
"""

from __future__ import annotations

import ipaddress
import re
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from webcoach.condenser.urls import browser_url

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

# A host-looking token in free text ("bestbuy.com/cart", "evil-example.test"); used to find foreign hosts in advice.
HOST_IN_TEXT = re.compile(
    r"(?:(?<=//)|(?<![\w@./-]))((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62})(?![\w-])", re.I
)


@cache
def _psl() -> PublicSuffixList:
    # Loaded on first use (~0.2 s): importing webcoach must stay cheap.
    from publicsuffixlist import PublicSuffixList

    # accept_unknown=False: "html" in "login.html" must not count as a TLD (see foreign_hosts).
    return PublicSuffixList(accept_unknown=False)


def host_of(url: str | None) -> str | None:
    """The lower-case host of an http(s) URL (None for other schemes and junk)."""
    # Read as a browser reads it (condenser/urls.py): a backslash, a tab or an IDNA dot must not change the site.
    href = browser_url(url)
    if href is None or not href.startswith(("http://", "https://")):
        return None
    host = urlsplit(href).hostname
    return host.lower().rstrip(".") if host else None


@cache
def site_of_host(host: str) -> str:
    """The registrable domain of a host: `www.amazon.co.uk` -> `amazon.co.uk`; an IP or a bare name stays as it is."""
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    if "." not in host:
        return host
    if _psl().is_public(host):
        return host  # the host is itself a public suffix (e.g. "co.uk"), which no one site owns
    private = _psl().privatesuffix(host)
    # None: a TLD the list does not know (".test", ".internal"): the browser's default rule, one label + the TLD.
    return private or ".".join(host.split(".")[-2:])


def site_of(url: str | None) -> str | None:
    """The site (registrable domain) of a URL, or None when it has no http(s) host."""
    host = host_of(url)
    return site_of_host(host) if host else None


def same_site(a: str | None, b: str | None) -> bool:
    """Whether two URLs or sites are on one registrable domain (unknown is never the same site)."""
    sa, sb = _as_site(a), _as_site(b)
    return sa is not None and sa == sb


def _as_site(value: str | None) -> str | None:
    if not value:
        return None
    if "://" in value:
        return site_of(value)
    host = value.split("/", 1)[0].split(":", 1)[0]
    return site_of_host(host) if host else None


def foreign_hosts(text: str, site: str | None) -> list[str]:
    """Host names in `text` that are not on `site` (all of them when the site is unknown)."""
    found = []
    for match in HOST_IN_TEXT.finditer(text):
        host = match.group(1).lower()
        if host.rsplit(".", 1)[-1].isdigit():  # "1.5" or an IPv4 address, not a DNS name
            continue
        if not _psl().is_public(host.rsplit(".", 1)[-1]) and not _looks_like_dns(host):  # "login.html", "app.js"
            continue
        if site is None or site_of_host(host) != site:
            found.append(host)
    return found


def _looks_like_dns(host: str) -> bool:
    # Reserved test/local TLDs are not on the public list but are real hosts to a browser.
    return host.rsplit(".", 1)[-1] in ("test", "localhost", "local", "example", "invalid", "internal")
