"""What a problem in a log is, and whether it is a fact about the site.

A real run's log is full of errors that say nothing about the site it was on: the agent framework's own failures
(browser-use watchdogs, an executor shut down, an LLM reply that did not parse), the client's network (offline, DNS,
a proxy), the client blocking a request, bot walls, and whatever third-party frames and scripts print. Only some kinds
are caused by the site itself; those alone may become lessons for it. The rest stays in the run's record and is never
advised (see rules.py).

Pages that never make a run's site live here too: search-engine result pages, consent and CAPTCHA interstitials, and
ad/tracker hosts. A hop through Google to reach berkeley.edu is not a Google run.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from webcoach.condenser.site import site_of, site_of_host
from webcoach.condenser.urls import host_of, split_url

Cause = Literal["agent", "network", "blocked", "bot_wall", "http", "subresource", "third_party", "page", "unknown"]
# Kinds that are facts about the site the page belongs to: these may become lessons for it.
SITE_CAUSES: frozenset[Cause] = frozenset({"http", "page"})

# --- agent framework and LLM errors: the agent's machinery, never the site's ---------------------------------------
_AGENT = re.compile(
    r"watchdog|Event handler \S+ timed out|NavigateToUrlEvent|BrowserSession|cannot schedule new futures|after shutdown"
    r"|Could not parse response|valid JSON object|json_invalid|ValidationError|validation error|LLM call|RateLimitError"
    r"|rate limit|insufficient_quota|quota|api[_ ]?key|401 Unauthorized|APIConnectionError|APITimeoutError|overloaded"
    r"|Execution context was destroyed|Target (?:page, context or browser )?(?:has been )?closed|Browser (?:has been )?closed"
    r"|browser has disconnected|Connection closed|Session closed|CDP|Cannot find context with specified id"
    r"|stale element"
    r"|Failed to (?:get|parse|execute|click element)|Action .* not found|No such (?:tab|action)|tab_id|max_failures"
    r"|Traceback|Exception|RuntimeError|TypeError|KeyError|AttributeError|asyncio|Task was destroyed|Event loop",
    re.I,
)
# --- the client's own network --------------------------------------------------------------------------------------
_NETWORK = re.compile(
    r"ERR_INTERNET_DISCONNECTED|ERR_NETWORK_CHANGED|ERR_NETWORK_ACCESS_DENIED|ERR_NAME_NOT_RESOLVED|ERR_NAME_RESOLUTION_FAILED"
    r"|ERR_ADDRESS_UNREACHABLE|ERR_PROXY\w*|ERR_TUNNEL_CONNECTION_FAILED|ERR_CONNECTION_(?:REFUSED|RESET|CLOSED|TIMED_OUT|FAILED)"
    r"|ERR_TIMED_OUT|ERR_NETWORK_IO_SUSPENDED|NS_ERROR_(?:OFFLINE|UNKNOWN_HOST|NET_\w+|CONNECTION_REFUSED|PROXY\w*)"
    r"|getaddrinfo|ENOTFOUND|ECONNREFUSED|ECONNRESET|EAI_AGAIN|net::ERR_SOCKS|Could not resolve host|offline",
    re.I,
)
# --- the client blocking or abandoning a request -------------------------------------------------------------------
_BLOCKED = re.compile(
    r"ERR_BLOCKED_BY_CLIENT|ERR_BLOCKED_BY_ADMINISTRATOR|ERR_ABORTED|NS_BINDING_ABORTED|ERR_CACHE_MISS|net::ERR_FAILED"
    r"|blockedbyclient|Blocked by (?:the )?client|ERR_UNSAFE_PORT|ERR_DISALLOWED_URL_SCHEME|request was cancel+ed",
    re.I,
)
# --- bot walls: a check for humans, not a broken page --------------------------------------------------------------
_BOT_WALL_TEXT = re.compile(
    r"captcha|recaptcha|hcaptcha|turnstile|cf-challenge|cf_chl|challenge-platform|Just a moment|Attention Required"
    r"|are you a (?:human|robot)|not a robot|unusual traffic|bot (?:check|detection)|verify you are human|Access denied.*bot"
    r"|px-captcha|perimeterx|datadome|distil",
    re.I,
)
# --- a page element the site did not offer (after the browser waited for it) ----------------------------------------
_PAGE = re.compile(
    r"waiting for (?:locator|selector|getBy)|Timeout \d+ms exceeded|intercepts pointer events|element is not (?:visible|enabled|attached|editable)"
    r"|not found or not visible|Element (?:with )?index \d+|index \d+ (?:not|does not)|not available - page may have changed"
    r"|do(?:es)? not contain|No element|strict mode violation|resolved to \d+ elements|Navigation timeout|page\.goto: Timeout"
    r"|net::ERR_CERT_\w+|ERR_SSL_\w+|ERR_EMPTY_RESPONSE|ERR_TOO_MANY_REDIRECTS|ERR_CONTENT_\w+|ERR_INVALID_RESPONSE",
    re.I,
)


def classify_error(text: str | None) -> Cause:
    """The cause of an action's error message (a step's error, a failed request's failure text)."""
    if not text:
        return "unknown"
    # A run repeats its error messages step after step, and five case-blind searches add up; a long message is not kept
    # (a long-lived server would hold it).
    return _cause(text) if len(text) <= 2000 else _cause.__wrapped__(text)


@lru_cache(maxsize=4096)
def _cause(text: str) -> Cause:
    if _NETWORK.search(text):
        return "network"
    if _BLOCKED.search(text):
        return "blocked"
    if _BOT_WALL_TEXT.search(text):
        return "bot_wall"
    if _AGENT.search(text):
        return "agent"
    if _PAGE.search(text):
        return "page"
    return "unknown"


# --- pages that never make the site ---------------------------------------------------------------------------------
_SEARCH_ENGINE_SITES = re.compile(
    r"^(?:google|bing|duckduckgo|yahoo|baidu|yandex|ecosia|startpage|qwant|ask|aol|naver|sogou|seznam|so)\.[a-z.]+$"
)
_SEARCH_PATH = re.compile(r"^/(?:search|html|webhp|url|s|web|sorry(?:/.*)?|lite|results?|web/results?)?/?$", re.I)
_INTERSTITIAL_HOST = re.compile(
    r"^(?:consent\.[^.]+\.[a-z.]+|consent\.google\.[a-z.]+|challenges\.cloudflare\.com|[^.]*captcha[^.]*\.[a-z.]+"
    r"|accounts\.google\.com|myaccount\.google\.com)$",
    re.I,
)
_INTERSTITIAL_PATH = re.compile(r"/(?:sorry|cdn-cgi/(?:challenge-platform|l/chk_)|captcha|challenge)(?:/|$|\?)", re.I)
# Ad, analytics and tracking hosts (registrable domains): they serve frames and beacons, never the page a task is about.
AD_TRACKER_SITES = frozenset(
    {
        "doubleclick.net",
        "googlesyndication.com",
        "googleadservices.com",
        "google-analytics.com",
        "googletagmanager.com",
        "googletagservices.com",
        "adservice.google.com",
        "2mdn.net",
        "adnxs.com",
        "adsrvr.org",
        "openx.net",
        "servedbyopenx.com",
        "casalemedia.com",
        "rubiconproject.com",
        "pubmatic.com",
        "criteo.com",
        "criteo.net",
        "taboola.com",
        "outbrain.com",
        "scorecardresearch.com",
        "quantserve.com",
        "quantcount.com",
        "moatads.com",
        "krxd.net",
        "chartbeat.com",
        "chartbeat.net",
        "skimresources.com",
        "sonobi.com",
        "advertising.com",
        "mathtag.com",
        "crwdcntrl.net",
        "ml314.com",
        "umbel.com",
        "revsci.net",
        "rhythmxchange.com",
        "technoratimedia.com",
        "bluekai.com",
        "demdex.net",
        "everesttech.net",
        "omtrdc.net",
        "hotjar.com",
        "segment.io",
        "segment.com",
        "mixpanel.com",
        "newrelic.com",
        "nr-data.net",
        "amazon-adsystem.com",
        "adsafeprotected.com",
        "doubleverify.com",
        "teads.tv",
        "smartadserver.com",
        "yieldmo.com",
        "indexww.com",
        "33across.com",
        "lijit.com",
        "sharethrough.com",
        "bidswitch.net",
        "contextweb.com",
        "spotxchange.com",
        "tapad.com",
        "agkn.com",
        "exelator.com",
        "rlcdn.com",
        "adform.net",
        "facebook.net",
        "licdn.com",
        "ads-twitter.com",
        "bat.bing.com",
        "clarity.ms",
        "s-onetag.com",
        "onetag-sys.com",
        "gumgum.com",
        "media.net",
        "zemanta.com",
        "yieldlab.net",
        "adition.com",
        "imrworldwide.com",
        "cxense.com",
        "optimizely.com",
        "branch.io",
        "adjust.com",
        "appsflyer.com",
        "sentry.io",
        "bugsnag.com",
        "fullstory.com",
    }
)
# Paths of well-known ad/tracker endpoints on hosts that also serve real pages (facebook.com/tr, google.com/pagead).
_TRACKER_PATH = re.compile(r"^/(?:tr|pagead|ads|adserver|collect|g/collect|beacon|pixel|usermatch|getuid|sync)\b", re.I)


@lru_cache(maxsize=8192)
def is_ad_or_tracker(url: str | None) -> bool:
    host = host_of(url)
    if not host:
        return False
    site = site_of_host(host)
    if site in AD_TRACKER_SITES or host in AD_TRACKER_SITES:
        return True
    parts = split_url(url)
    return bool(parts and _TRACKER_PATH.match(parts.path or "/"))


def is_bot_wall_url(url: str | None) -> bool:
    host = host_of(url)
    parts = split_url(url)
    if not host or parts is None:
        return False
    return bool(_INTERSTITIAL_PATH.search(parts.path or "")) or bool(re.search(r"captcha|challenge", host))


@lru_cache(maxsize=8192)  # asked for every step of a run, whose steps repeat their pages
def is_hop(url: str | None, task: str = "") -> bool:
    """A page the agent passes through on its way to the site: a search engine's pages, a consent or CAPTCHA
    interstitial, an ad or tracker. A task that names the search engine itself ("search Google for ...") makes its
    result pages part of the work, except interstitials, which never are."""
    host = host_of(url)
    if not host:
        return False
    parts = split_url(url)
    path = parts.path if parts else "/"
    if _INTERSTITIAL_HOST.match(host) or (parts and _INTERSTITIAL_PATH.search(path or "")):
        return True
    if is_ad_or_tracker(url):
        return True
    site = site_of_host(host)
    if (
        _SEARCH_ENGINE_SITES.match(site)
        and _SEARCH_PATH.match(path or "/")
        and host.split(".")[0] in ("www", site.split(".")[0], "search", "html", "lite", "m")
    ):
        return not names_site(task, site)
    return False


def names_site(task: str, site: str | None) -> bool:
    """Whether a task names a site by its name ("search Google", "on amazon.com")."""
    if not task or not site:
        return False
    label = site.split(".")[0]
    return len(label) >= 3 and re.search(rf"\b{re.escape(label)}\b", task, re.I) is not None


def third_party(source_url: str | None, page_url: str | None) -> bool:
    """Text from a frame or script whose site is not the page's own site."""
    source, page = site_of(source_url), site_of(page_url)
    return source is not None and page is not None and source != page


# A final message that says the task was not done ("I am unable to complete the task ..."): for logs whose done step
# carries no success flag (browser-use before 0.1.3x, Online-Mind2Web results), the agent's words are its claim.
_NOT_DONE = re.compile(
    r"\b(?:unable to|could ?n[o']t|can ?n[o']t|cannot|not able to|wasn'?t able|was not able|failed to|impossible to"
    r"|no (?:way|results?|information) (?:to|found|available)|did not (?:find|succeed|complete)|didn'?t (?:find|succeed|complete)"
    r"|gave up|giving up|task (?:is )?(?:not|in)complete)\b",
    re.I,
)


def says_not_done(text: str) -> bool:
    return _NOT_DONE.search(text) is not None
