"""Read a HAR (HTTP Archive 1.2, e.g. Playwright's `record_har_path`) into a redacted Trajectory.

A HAR records requests, not actions: each main-frame page load becomes a `goto` step with its HTTP status, and every
failing request (status >= 400, or no response at all) becomes an HttpFailure that says whether it was a page load.
Documents loaded into frames (ads, widgets, sync pixels) are not page visits: a news page's forty ad iframes are not
forty steps, and an ad frame's 404 is not a broken page of the site. Values sent under secret-looking names
(query strings, form and JSON bodies) are registered with the Redactor before any URL is kept; bodies themselves,
headers and cookies are never kept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote

from webcoach.condenser.incidents import is_ad_or_tracker, is_bot_wall_url
from webcoach.condenser.redact import SENSITIVE_KEY, Redactor
from webcoach.condenser.secrets import SECRET_PARAM, secret_field
from webcoach.condenser.site import site_of
from webcoach.condenser.trajectory import HttpFailure, Step, Trajectory
from webcoach.condenser.urls import split_url
from webcoach.errors import InputError

_NOT_PAGES = ("about:", "data:", "blob:", "chrome:", "chrome-error:")
# JSON objects are dicts, tested first: an ABC check (Mapping) costs ten times more, and a HAR asks it ~20 times a request.
_MAP = (dict, Mapping)


def parse_har(data: Mapping[str, Any], redactor: Redactor, *, source: str | None = None) -> Trajectory:
    """Parse a HAR already loaded as JSON; `source` names it in error messages."""
    name = source or "<HAR>"
    log = data.get("log") if isinstance(data, _MAP) else None
    if not isinstance(log, _MAP):
        raise InputError(f"{name}: not a HAR (no 'log' object); export it again, e.g. with Playwright's record_har_path")
    entries = log.get("entries")
    if not isinstance(entries, list):
        raise InputError(f"{name}: malformed HAR: 'log.entries' is {type(entries).__name__}, expected a list of requests")
    usable = [_Entry.of(e) for e in entries if isinstance(e, _MAP) and isinstance(_request(e).get("url"), str)]
    if not usable:
        raise InputError(f"{name}: the HAR holds no readable requests; record it with the HAR on from the first page load")
    # Stable sort on start time: HAR writers usually keep order, but concurrent requests may be written late.
    ordered = sorted(usable, key=lambda e: e.started or float("inf"))

    for value in _secret_values(ordered):  # secrets first, before any string is kept
        redactor.add_secret(value)

    main = _main_frame(ordered, log.get("pages"))
    steps: list[Step] = []
    current: str | None = None
    for position, entry in enumerate(ordered):
        if position not in main:
            continue
        status = entry.status
        if status is not None and 300 <= status < 400 and entry.response.get("redirectURL"):
            continue  # a hop in a redirect chain: the step is the page it ends on
        failure = entry.failure
        elapsed = entry.elapsed
        steps.append(
            Step(
                index=len(steps),
                action="goto",
                url=redactor.url(current),
                target=redactor.url(entry.url),
                error=redactor.text(" ".join(failure.split())) if failure else None,
                http_status=status if status and status > 0 else None,
                bot_wall=_bot_wall(entry),
                started_at=entry.started,
                duration_s=round(elapsed / 1000, 3) if elapsed is not None and elapsed >= 0 else None,
            )
        )
        current = entry.url

    started = [e.started for e in ordered if e.started is not None]
    ended = [e.started + (e.elapsed or 0.0) / 1000 for e in ordered if e.started is not None]
    return Trajectory(
        source_kind="har",
        steps=tuple(steps),
        start_url=next((s.target for s in steps), None),
        http_failures=_failures(ordered, main, redactor),
        started_at=min(started) if started else None,
        duration_s=round(max(ended) - min(started), 3) if started else None,
        source=source,
    )


@dataclass(frozen=True, slots=True)
class _Entry:
    """One request's fields that the parser reads, each checked and read once (a HAR has thousands of entries)."""

    raw: Mapping[str, Any]
    request: Mapping[str, Any]
    response: Mapping[str, Any]
    url: str
    status: int | None
    started: float | None
    elapsed: float | None
    failure: str | None
    dest: str | None  # Sec-Fetch-Dest: what the browser fetched it for (document, iframe, script, ...)

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> _Entry:
        request, response = _request(entry), _response(entry)
        return cls(
            raw=entry,
            request=request,
            response=response,
            url=str(request["url"]),
            status=_status(response),
            started=_started(entry),
            elapsed=_number(entry.get("time")),
            failure=_failure_text(entry, response),
            dest=_header(request, "sec-fetch-dest"),
        )


def _failures(entries: list[_Entry], main: set[int], redactor: Redactor) -> tuple[HttpFailure, ...]:
    seen: dict[tuple[str, int, str], HttpFailure] = {}
    page: str | None = None
    for position, entry in enumerate(entries):
        status, text = entry.status, entry.failure
        if position in main:
            page = entry.url
        failed = bool(text) or status is None or status <= 0
        if not failed and (status is None or status < 400):
            continue
        url = redactor.url(entry.url) or ""
        method = entry.request.get("method")
        key = (url, 0 if failed else int(status or 0), method if isinstance(method, str) else "GET")
        if key not in seen:  # the same failure again (a retried request) is one
            seen[key] = HttpFailure(
                url=key[0],
                status=key[1],
                method=key[2],
                document=position in main,
                failure=redactor.text(" ".join(text.split())) if text else None,
                page_url=redactor.url(page),
                bot_wall=_bot_wall(entry),
            )
    return tuple(seen.values())


def _main_frame(entries: list[_Entry], pages: object) -> set[int]:
    """Positions of the entries that are main-frame page loads.

    What a HAR says about frames differs by writer: Chromium's `Sec-Fetch-Dest` header and `_initiator`, a page list
    whose titles are the page URLs (Chrome, Safari, Firefox), or nothing (Browsertime, mitmproxy). In order: a request
    that says it is for a frame, or that the HTML parser started (an <iframe>), or that goes to an ad or tracker, is not
    a page; the first document of each page (`pageref`) is; a later one in the same page is only where it is that
    page's URL or, when the HAR does not list page URLs, where it stays on the page's site (a third-party document
    inside a page is a frame)."""
    listed = pages if isinstance(pages, list) else []
    page_urls = {
        str(p.get(k))
        for p in listed
        if isinstance(p, _MAP)
        for k in ("title", "id")
        if isinstance(p.get(k), str) and str(p.get(k)).startswith(("http://", "https://"))
    }
    main: set[int] = set()
    first_of_page: dict[object, _Entry] = {}
    for position, entry in enumerate(entries):
        url = entry.url
        if not _is_document(entry) or url.startswith(_NOT_PAGES) or _framed(entry) or is_ad_or_tracker(url):
            continue
        ref = entry.raw.get("pageref")
        if not isinstance(ref, str | int) or ref not in first_of_page:
            if isinstance(ref, str | int):
                first_of_page[ref] = entry
            main.add(position)
            continue
        first = first_of_page[ref]
        frame = entry.raw.get("_frameref")  # Playwright names the frame: the page's own frame is the first document's
        said = entry.dest == "document" or (frame is not None and frame == first.raw.get("_frameref"))
        if said or url in page_urls or (not page_urls and site_of(url) == site_of(first.url)):
            main.add(position)
    return main


def _framed(entry: _Entry) -> bool:
    if entry.dest is not None:
        return entry.dest != "document"
    initiator = entry.raw.get("_initiator")
    return isinstance(initiator, _MAP) and initiator.get("type") == "parser"


def _bot_wall(entry: _Entry) -> bool:
    """A bot check answered instead of the page: Cloudflare's challenge (403/503 with `cf-mitigated: challenge`, or
    its "Just a moment" page), or a CAPTCHA interstitial's URL."""
    response = entry.response
    if is_bot_wall_url(entry.url):
        return True
    if entry.status not in (403, 429, 503):
        return False
    if (_header(response, "cf-mitigated") or "").lower() == "challenge":
        return True
    content = response.get("content")
    text = content.get("text") if isinstance(content, _MAP) else None
    return isinstance(text, str) and "<title>Just a moment" in text[:4000]


def _header(holder: Mapping[str, Any], name: str) -> str | None:
    for header in holder.get("headers") or []:
        if isinstance(header, _MAP):
            key = header.get("name", "")
            key = key if isinstance(key, str) else str(key)
            if len(key) == len(name) and key.lower() == name:  # lengths first: a request has dozens of headers
                value = header.get("value")
                return str(value) if value is not None else None
    return None


def _secret_values(entries: list[_Entry]) -> Iterator[str]:
    for entry in entries:
        request = entry.request
        pairs = _query_pairs(entry.url)
        post = request.get("postData")
        if isinstance(post, _MAP):
            pairs += [(str(p.get("name")), str(p.get("value"))) for p in post.get("params") or [] if isinstance(p, _MAP)]
            text = post.get("text")
            if isinstance(text, str):
                pairs += _body_pairs(text)
        for key, value in pairs:
            if value and _secret_key(key):
                yield value


def _query_pairs(url: str) -> list[tuple[str, str]]:
    """The query's (name, value) pairs as a browser sends them, for the queries that name a secret-looking key.

    Parsing every URL as a browser does costs more than anything else in a HAR, and most requests send nothing
    secret: the names are first read from the text after the first "?" (where a browser's query starts, once it has
    dropped tabs and newlines; its percent-encoding decodes back to the same names), a superset of the query's own
    names. Only a URL that names a secret-looking key is parsed in full."""
    _, mark, rest = url.partition("?")
    if not mark:
        return []
    rest = rest.translate(_TAB_NEWLINE)
    # The names as parse_qsl decodes them, without decoding every value too (a tracking pixel's query is kilobytes).
    names = (p.partition("=")[0] for p in rest.split("&"))
    if not any(_secret_key(unquote(k.replace("+", " ")) if "%" in k or "+" in k else k) for k in names):
        return []
    parts = split_url(url)
    return list(parse_qsl(parts.query, keep_blank_values=True)) if parts else []


_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")


def _secret_key(key: str) -> bool:
    """A form field named like a secret (pwd, otp, code, pin, ...) or a secret URL parameter (sig, ...)."""
    # The same few parameter names come back in every request; a long one is not kept (a long-lived server would hold it).
    return _secret_name(key) if len(key) <= 200 else _secret_name.__wrapped__(key)


@lru_cache(maxsize=4096)
def _secret_name(key: str) -> bool:
    return bool(SENSITIVE_KEY.search(key) or secret_field(key) or SECRET_PARAM.search(key))


def _body_pairs(text: str) -> list[tuple[str, str]]:
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return list(parse_qsl(text, keep_blank_values=True))
    pairs: list[tuple[str, str]] = []
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, str | int | float) and not isinstance(v, bool):
                    pairs.append((str(k), str(v)))
                else:
                    stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)
    return pairs


def _is_document(entry: _Entry) -> bool:
    kind = entry.raw.get("_resourceType")  # Chromium and Playwright HARs say it outright
    if isinstance(kind, str):
        return kind == "document"
    if entry.dest is not None:
        return entry.dest in ("document", "iframe", "frame")
    content = entry.response.get("content")
    mime = content.get("mimeType") if isinstance(content, _MAP) else None
    return entry.request.get("method", "GET") == "GET" and isinstance(mime, str) and mime.startswith("text/html")


def _failure_text(entry: Mapping[str, Any], response: Mapping[str, Any]) -> str | None:
    for holder in (entry, response):
        text = holder.get("_failureText") or holder.get("_error")
        if isinstance(text, str) and text:
            return text
    return None


def _started(entry: Mapping[str, Any]) -> float | None:
    when = entry.get("startedDateTime")
    if not isinstance(when, str):
        return None
    try:
        return datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _status(response: Mapping[str, Any]) -> int | None:
    status = _number(response.get("status"))
    return int(status) if status is not None else None


def _number(value: object) -> float | None:
    # Finite only: Python's json reads NaN and Infinity, and int(nan) raises.
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _request(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    request = entry.get("request")
    return request if isinstance(request, _MAP) else {}


def _response(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    response = entry.get("response")
    return response if isinstance(response, _MAP) else {}
