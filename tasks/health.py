"""A site health check before each eval task: is the task's start page reachable at all?

A site that cannot be reached (no DNS answer, refused or reset connections, a timeout, a broken TLS handshake) says
nothing about an agent: such a run is an outage, kept out of both arms' rates and out of memory, and counted in the
report. Any HTTP answer, an error status or a bot check included, means the site is up: the agent meets what a
person would."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from urllib.parse import urlsplit

TIMEOUT_S = 15.0
_AGENT = "Mozilla/5.0 (X11; Linux x86_64) webcoach-eval-health-check"


def check_site(url: str, timeout: float = TIMEOUT_S) -> str | None:
    """None when `url` answers over HTTP (any status); else one line saying why it is down. Only http(s) URLs are
    checked (a file:// page or a browser page has no site to be down)."""
    if urlsplit(url).scheme not in ("http", "https"):
        return None
    request = urllib.request.Request(url, headers={"User-Agent": _AGENT}, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(1)
    except urllib.error.HTTPError:
        return None  # it answered: up, whatever the status
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLError | ssl.CertificateError):
            return f"health check: TLS failed for {url}: {reason}"
        return f"health check: {url} unreachable: {reason}"
    except TimeoutError:
        return f"health check: {url} did not answer within {timeout:g}s"
    except (OSError, ValueError) as exc:
        return f"health check: {url} unreachable: {type(exc).__name__}: {exc}"
    return None
