"""Site identity: which site a URL belongs to, the unit that advice is scoped to. Everything that compares sites calls
this module, and the rule for what a site is lives here alone:

- a DNS name belongs to its registrable domain, from the public-suffix list bundled with `publicsuffixlist` (read from
  the installed package, never downloaded): `www.amazon.co.uk` and `smile.amazon.co.uk` are one site, `user1.github.io`
  and `user2.github.io` are two;
- tenants of shared user-content hosts that the list does not split are sites of their own (`SHARED_HOSTS`): a page
  anyone can publish on `sites.google.com/view/x` or `x.wordpress.com` is not google.com's or wordpress.com's;
- an IP address or a single-label name (localhost) is a site per port: two local apps are two sites;
- a string that is not a valid host name is no site at all (None), so it never becomes one, nor goes into a prompt as one.
"""

from __future__ import annotations

import ipaddress
import re
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from webcoach.condenser.urls import host_of as _raw_host
from webcoach.condenser.urls import port_of, split_url

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

# A host-looking token in free text ("bestbuy.com/cart", "evil-example.test"); used to find foreign hosts in advice.
HOST_IN_TEXT = re.compile(
    r"(?:(?<=//)|(?<![\w@./-]))((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62})(?![\w-])", re.I
)
# What a DNS name may hold once IDNA-encoded (underscores appear in real subdomains; browsers accept them).
_VALID_HOST = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

# Shared user-content hosts whose tenants the public-suffix list does not split: each tenant is a site of its own.
# Subdomain tenants: `TENANT.BASE` is a site (BASE itself and www.BASE stay the owner's).
SUBDOMAIN_TENANTS: frozenset[str] = frozenset(
    {
        "wordpress.com",
        "substack.com",
        "sharepoint.com",
        "glitch.me",
        "tumblr.com",
        "wixsite.com",
        "weebly.com",
        "medium.com",
        "notion.site",
        "carrd.co",
        "typepad.com",
        "livejournal.com",
        "ghost.io",
        "mystrikingly.com",
        "webnode.page",
        "jimdosite.com",
        "replit.app",
        "repl.co",
        "framer.website",
        "gitbook.io",
        "readthedocs.io",
    }
)
# Path tenants: on these hosts the first path segments name the tenant (`sites.google.com/view/x`, `gist.github.com/u`).
# The number is how many leading segments make the tenant; a segment in `_TENANT_PREFIX` adds one more.
PATH_TENANTS: dict[str, int] = {
    "sites.google.com": 1,
    "gist.github.com": 1,
    "codepen.io": 1,
    "docs.google.com": 0,  # a Google app: its own site, never google.com's mail or accounts
    "drive.google.com": 0,
    "storage.googleapis.com": 1,
    "s3.amazonaws.com": 1,
    "raw.githubusercontent.com": 1,
}
_TENANT_PREFIX = {"view", "site", "a", "s", "u"}


@cache
def _psl() -> PublicSuffixList:
    # Loaded on first use (~0.2 s): importing webcoach must stay cheap.
    from publicsuffixlist import PublicSuffixList

    # accept_unknown=False: "html" in "login.html" must not count as a TLD (see foreign_hosts).
    return PublicSuffixList(accept_unknown=False)


def valid_host(host: str | None) -> str | None:
    """`host` lower-cased and IDNA-encoded (`exаmple.com` with a Cyrillic a -> `xn--exmple-...`), or None when it is not
    a host name or an IP address (spaces, brackets, percent signs ...)."""
    if not host:
        return None
    host = host.strip().lower().rstrip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host.strip("[]")
    except ValueError:
        pass
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if _VALID_HOST.match(host) else None


@lru_cache(maxsize=8192)  # a log repeats its URLs: each is parsed and checked once
def host_of(url: str | None) -> str | None:
    """The lower-case host of an http(s) URL (None for other schemes, junk, and hosts that are not host names), read as
    a browser reads it (condenser/urls.py): a backslash, a tab or an IDNA dot must not change the site."""
    if not url:
        return None
    parts = split_url(url.strip())
    if parts is None or parts.scheme not in ("http", "https"):
        return None
    return valid_host(_raw_host(url.strip()))


def _is_local(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return "." not in host


@cache
def site_of_host(host: str) -> str:
    """The site of a host alone: `www.amazon.co.uk` -> `amazon.co.uk`; an IP or a bare name stays as it is; a tenant of
    a shared host (`x.wordpress.com`) is its own site, and a path-tenant host (`sites.google.com`) is never its owner's."""
    host = host.lower().rstrip(".")
    if _is_local(host):
        return host
    for base in SUBDOMAIN_TENANTS:
        if host.endswith("." + base):
            tenant = host[: -len(base) - 1].rsplit(".", 1)[-1]
            return base if tenant == "www" else f"{tenant}.{base}"
    if host in PATH_TENANTS:
        return host
    if _psl().is_public(host):
        return host  # the host is itself a public suffix (e.g. "co.uk"), which no one site owns
    private = _psl().privatesuffix(host)
    # None: a TLD the list does not know (".test", ".internal"): the browser's default rule, one label + the TLD.
    return private or ".".join(host.split(".")[-2:])


def _path_tenant(host: str, path: str) -> str:
    depth = PATH_TENANTS[host]
    segments = [s.lower() for s in path.split("/") if s][: depth + 1]
    if not depth or not segments:
        return host
    take = depth + 1 if segments[0] in _TENANT_PREFIX and len(segments) > depth else depth
    return "/".join([host, *segments[:take]])


@lru_cache(maxsize=8192)
def site_of(url: str | None) -> str | None:
    """The site of a URL, or None when it has no valid http(s) host. Local hosts keep their explicit port."""
    host = host_of(url)
    if host is None:
        return None
    if _is_local(host):
        port = port_of(url.strip()) if url else None
        name = f"[{host}]" if ":" in host else host
        scheme = url.strip().split(":", 1)[0].lower() if url else ""
        if port is None or port == {"http": 80, "https": 443}.get(scheme):
            return name  # the scheme's own port is the same origin as none
        return f"{name}:{port}"
    if host in PATH_TENANTS:
        parts = split_url(url.strip()) if url else None
        return _path_tenant(host, parts.path if parts else "")
    return site_of_host(host)


def as_site(value: str | None) -> str | None:
    """The site of a URL, or of a site/host written without a scheme (`amazon.com`, `127.0.0.1:8123`, `x.wordpress.com/a`)."""
    if not value:
        return None
    value = value.strip()
    return site_of(value if "://" in value else f"http://{value}")


def same_site(a: str | None, b: str | None) -> bool:
    """Whether two URLs or sites are one site (unknown is never the same site)."""
    sa, sb = as_site(a), as_site(b)
    return sa is not None and sa == sb


def foreign_hosts(text: str, site: str | None) -> list[str]:
    """Host names in `text` that are not on `site` (all of them when the site is unknown)."""
    found = []
    for match in HOST_IN_TEXT.finditer(text):
        host = match.group(1).lower()
        if host.rsplit(".", 1)[-1].isdigit():  # "1.5" or an IPv4 address, not a DNS name
            continue
        if not is_tld(host.rsplit(".", 1)[-1]):  # "login.html", "app.js"
            continue
        if site is None or site_of_host(host) != site:
            found.append(host)
    return found


_RESERVED = ("test", "localhost", "local", "example", "invalid", "internal")


def is_tld(label: str) -> bool:
    """Whether `label` ends host names: a public suffix, or a reserved test/local TLD (not on the public list, but a
    real host to a browser)."""
    label = label.lower()
    return label in _RESERVED or _psl().is_public(label)
