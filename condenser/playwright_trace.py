"""Read a Playwright trace.zip (format versions up to 10) into a redacted Trajectory.

Secrets are collected before any string is built: text typed into a password field (known from the selector, from the
element Playwright resolved, from the element a DOM snapshot marks as the target, or from focus left on such an element)
and every value a password input holds in any DOM snapshot. Only then are steps, URLs and errors extracted, each through
the Redactor. DOM and aria snapshots, log lines (other than navigations), request bodies and sources are never kept.

A little over the 400-line guide: reading events, collecting secrets and building steps are one pass over one shared
state (`_Raw`), and the secrets step must see everything before any string is built; the container and field access
already live in trace_format.py.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from webcoach.condenser.playwright_mcp import is_live_trace, read_live_trace
from webcoach.condenser.redact import Redactor
from webcoach.condenser.secrets import SECRET_FIELD, secret_field
from webcoach.condenser.trace_format import (
    dict_,
    error_message,
    events,
    is_unzipped_trace,
    num,
    read_folder,
    read_zip,
    squeeze,
    str_,
)
from webcoach.condenser.trajectory import HttpFailure, PageMessage, Step, Trajectory
from webcoach.errors import InputError

NEWEST_VERSION = 10
_ASSUMED_VERSION = 6  # what Playwright's own loader assumes when a trace names no version

_EVALUATE = "evaluate"  # kept only when a trace holds nothing else

# Keys are API names squeezed to lowercase letters: protocol methods (v4+), apiName (v4-7) or title (v8+) tails.
_ACTION_BY_NAME: dict[str, str] = {
    **dict.fromkeys(("goto", "reload"), "goto"),
    **dict.fromkeys(("click", "dblclick", "tap", "mouseclick", "mousedblclick"), "click"),
    **dict.fromkeys(("fill", "type", "presssequentially", "keyboardtype", "keyboardinserttext", "inserttext"), "fill"),
    **dict.fromkeys(("press", "keyboardpress"), "press"),
    "selectoption": "select",
    **dict.fromkeys(("check", "uncheck", "setchecked"), "check"),
    "hover": "hover",
    **dict.fromkeys(("mousewheel", "wheel", "scrollintoviewifneeded", "scrollintoview"), "scroll"),
    "goback": "back",
    "setinputfiles": "upload",
    **dict.fromkeys(("waitforselector", "waitfortimeout", "waitforfunction"), "wait"),
    **dict.fromkeys(("textcontent", "innertext", "innerhtml", "getattribute", "inputvalue"), "extract"),
    **dict.fromkeys(("goforward", "draganddrop", "expect"), "other"),
    "bringtofront": "tab",
    **dict.fromkeys(("evaluate", "evaluateexpression", "evaluatehandle", "evaluateexpressionhandle"), _EVALUATE),
}
_TYPED_KEYS = {"\n": "Enter", "\r": "Enter", "\r\n": "Enter", "\t": "Tab"}

# Selectors, resolved elements and DOM attributes that mean "what is typed here is secret".
_SECRET_SELECTOR = SECRET_FIELD
_RESOLVED_SECRET = re.compile(r"resolved to (?:visible )?<input\b[^>]*\btype=\"password\"", re.I)
# Cheap substring pre-check before walking a DOM snapshot (a case-insensitive regex over every snapshot costs more).
_SECRET_MARKUP = (b'"INPUT"', b'"input"')
_INPUT_NODE = re.compile(r'\[\s*"(?:INPUT|input)"\s*,\s*\{')
_DECODER = json.JSONDecoder()
_SECRET_AUTOCOMPLETE = {"current-password", "new-password", "one-time-code", "cc-number", "cc-csc"}
_NAVIGATED = re.compile(r'navigated to "(.+)"')
_ARIA_REF = re.compile(r'^aria-ref=\w+(?:\s*>>\s*internal:describe=(?:"(.*)"|(.*)))?$')
_WAITING_FOR = re.compile(r"^\s*waiting for (.+?)(?: to be \w+)?$")


@dataclass(kw_only=True)
class _Call:
    call_id: str
    cls: str = ""
    method: str = ""
    label: str = ""  # apiName (v4-7) or title (v8+)
    params: dict[str, Any] = field(default_factory=dict)
    start: float | None = None  # monotonic ms
    end: float | None = None
    wall: float | None = None  # epoch ms, only older formats put it on each call
    error: str | None = None
    parent: str | None = None
    logs: list[str] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)  # snapshot phase -> main-frame URL
    secret_target: bool = False  # a DOM snapshot marks a password input as this call's target


@dataclass(kw_only=True)
class _Raw:
    wall: float | None = None
    mono: float | None = None
    clock: tuple[float, float] | None = None  # (monotonic ms, epoch ms) seen together in a snapshot
    events: int = 0
    calls: dict[str, _Call] = field(default_factory=dict)
    snapshot_names: dict[str, tuple[str, str]] = field(default_factory=dict)  # v<=8: snapshotName -> (callId, phase)
    snapshots: list[tuple[str | None, str | None, str | None, str | None, bool]] = field(default_factory=list)
    main_frames: set[str] = field(default_factory=set)
    console: list[tuple[float, str, str | None]] = field(default_factory=list)  # (time, text, where it came from)
    resources: list[dict[str, Any]] = field(default_factory=list)
    secret_values: set[str] = field(default_factory=set)
    test_errors: list[str] = field(default_factory=list)  # a test runner's own "error" events (a failed test)


def parse_trace(path: Path, redactor: Redactor) -> Trajectory:
    """Parse a trace.zip written by `context.tracing.stop(path=...)` (or the folder it unzips to), or a live trace (a `.trace` file, as Playwright
    MCP writes them; see playwright_mcp.py); every extracted string is redacted."""
    path = Path(path)
    if is_unzipped_trace(path):
        return parse_lines(path, read_folder(path), redactor)
    if is_live_trace(path):
        return parse_lines(path, read_live_trace(path), redactor)
    return parse_lines(path, read_zip(path), redactor)


def parse_lines(path: Path, lines: tuple[list[bytes], list[bytes]], redactor: Redactor) -> Trajectory:
    """Parse a trace's (event lines, network lines), read from a trace.zip, its folder or a live trace at `path`."""
    trace_lines, network_lines = lines
    raw = _Raw()
    for line, event in events(trace_lines):
        raw.events += 1
        _ingest(raw, event, line, path)
    for _, event in events(network_lines):
        if event.get("type") == "resource-snapshot" and isinstance(event.get("snapshot"), dict):
            raw.resources.append(event["snapshot"])
    if raw.events == 0:
        raise InputError(f"{path}: the trace holds no events (empty or cut off before the first one); record it again")
    if not raw.calls:
        raise InputError(f"{path}: the trace holds no browser actions; start tracing before driving the page")
    _resolve_snapshots(raw)
    _collect_secrets(raw, redactor)  # before any string below is built
    return _build(raw, redactor, path)


def _ingest(raw: _Raw, event: dict[str, Any], line: bytes, path: Path) -> None:
    kind = event.get("type")
    if kind == "context-options":
        version = event.get("version", _ASSUMED_VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise InputError(f"{path}: trace format version {version!r} is not a number; not a Playwright trace")
        if version > NEWEST_VERSION:
            raise InputError(
                f"{path}: trace format version {version} is newer than this webcoach reads (up to {NEWEST_VERSION}); upgrade webcoach"
            )
        raw.wall, raw.mono = num(event, "wallTime"), num(event, "monotonicTime")
    elif kind in ("before", "action"):
        _ingest_call(raw, event)
    elif kind in ("input", "after"):
        call = raw.calls.get(str(event.get("callId")))
        if call is not None:
            _finish_call(raw, call, event)
    elif kind == "log":
        call = raw.calls.get(str(event.get("callId")))
        if call is not None and isinstance(event.get("message"), str):
            call.logs.append(event["message"])
    elif kind == "frame-snapshot" and isinstance(event.get("snapshot"), dict):
        _ingest_snapshot(raw, event["snapshot"], line)
    elif kind == "console" and event.get("messageType") == "error":
        _ingest_console(raw, event)
    elif kind == "event" and event.get("method") == "pageError":
        message = error_message(dict_(event, "params").get("error"))
        if message:
            raw.console.append((num(event, "time") or 0.0, message, None))
    elif kind == "resource-snapshot" and isinstance(event.get("snapshot"), dict):
        raw.resources.append(event["snapshot"])
    elif kind == "error" and isinstance(event.get("message"), str):
        raw.test_errors.append(event["message"])


def _ingest_call(raw: _Raw, event: dict[str, Any]) -> None:
    meta = event.get("metadata")
    if isinstance(meta, dict):  # formats up to 3: one "action" event wrapping everything
        if meta.get("internal") or str(meta.get("method", "")).startswith("tracing"):
            return
        event = {**meta, "callId": meta.get("id"), "class": meta.get("type"), "error": meta.get("error")}
        for snap in meta.get("snapshots") or []:
            if isinstance(snap, dict) and isinstance(snap.get("snapshotName"), str):
                raw.snapshot_names[snap["snapshotName"]] = (str(event["callId"]), _phase(snap.get("title")))
    call_id = event.get("callId")
    if not isinstance(call_id, str | int):
        return
    call = raw.calls.setdefault(str(call_id), _Call(call_id=str(call_id)))
    call.cls, call.method = str_(event, "class") or "", str_(event, "method") or ""
    call.label = str_(event, "apiName") or str_(event, "title") or ""
    call.params = dict_(event, "params")
    call.start, call.wall = num(event, "startTime"), num(event, "wallTime")
    call.parent = str_(event, "parentId")
    _finish_call(raw, call, event)


def _finish_call(raw: _Raw, call: _Call, event: dict[str, Any]) -> None:
    for key, phase in (("beforeSnapshot", "before"), ("inputSnapshot", "action"), ("afterSnapshot", "after")):
        if isinstance(event.get(key), str):  # formats up to 8 name snapshots instead of giving them a phase
            raw.snapshot_names[event[key]] = (call.call_id, phase)
    if event.get("type") == "input":
        return
    call.end = num(event, "endTime") or call.end
    call.error = error_message(event.get("error")) or call.error
    logs = event.get("log")
    if isinstance(logs, list):  # formats up to 5 keep the log on the call
        call.logs.extend(x for x in logs if isinstance(x, str))


def _ingest_snapshot(raw: _Raw, snap: dict[str, Any], line: bytes) -> None:
    is_main = snap.get("isMainFrame") is not False
    if snap.get("isMainFrame") is True and isinstance(snap.get("frameId"), str):
        raw.main_frames.add(snap["frameId"])
    timestamp, wall = num(snap, "timestamp"), num(snap, "wallTime")
    if raw.clock is None and timestamp is not None and wall is not None:
        raw.clock = (timestamp, wall)
    secret_target = False
    if any(marker in line for marker in _SECRET_MARKUP):
        secret_target = _scan_dom(line.decode("utf-8", errors="replace"), raw.secret_values)
    call_id = snap.get("callId")
    url = str_(snap, "frameUrl") if is_main else None
    raw.snapshots.append((str(call_id) if call_id else None, str_(snap, "phase"), str_(snap, "snapshotName"), url, secret_target))


def _scan_dom(line: str, values: set[str]) -> bool:
    """Add the value of every password-like input in a snapshot line to `values`; True if one is marked as the target.

    Element attributes are flat JSON objects right after the tag name, so each INPUT's attributes are decoded on their
    own from the raw line (a JSON string cannot hold an unescaped `["INPUT",{`) instead of walking the whole tree."""
    secret_target = False
    for match in _INPUT_NODE.finditer(line):
        try:
            attrs, _ = _DECODER.raw_decode(line, match.end() - 1)
        except json.JSONDecodeError:
            continue
        if not isinstance(attrs, dict):
            continue
        kind, autocomplete = str(attrs.get("type", "")).lower(), str(attrs.get("autocomplete", "")).lower()
        if (
            kind == "password"
            or autocomplete in _SECRET_AUTOCOMPLETE
            or secret_field(" ".join(str(attrs.get(k) or "") for k in ("name", "id", "placeholder", "aria-label", "title")))
        ):
            values.update(attrs[key] for key in ("__playwright_value_", "value") if isinstance(attrs.get(key), str))
            secret_target = secret_target or "__playwright_target__" in attrs
    return secret_target


def _ingest_console(raw: _Raw, event: dict[str, Any]) -> None:
    text = str_(event, "text")
    location = str_(dict_(event, "location"), "url") or ""
    if not text or location.endswith("/favicon.ico"):  # the browser's own favicon probe is noise, not the page's error
        return
    if text.startswith("Failed to load resource") and location:
        text = f"{text} ({location})"
    raw.console.append((num(event, "time") or 0.0, text, location or None))


def _resolve_snapshots(raw: _Raw) -> None:
    for call_id, phase, name, url, secret_target in raw.snapshots:
        if name and name in raw.snapshot_names:
            call_id, phase = call_id or raw.snapshot_names[name][0], phase or raw.snapshot_names[name][1]
        call = raw.calls.get(call_id or "")
        if call is None:
            continue
        call.secret_target = call.secret_target or secret_target
        if url and phase and phase not in call.urls:
            call.urls[phase] = url


def _collect_secrets(raw: _Raw, redactor: Redactor) -> None:
    for value in raw.secret_values:
        redactor.add_secret(value)
    focus_secret = False  # keyboard typing with no selector goes to whatever the last targeted call left focused
    for call in raw.calls.values():
        selector = str_(call.params, "selector")
        targeted = selector is not None or call.cls == "ElementHandle"
        own = (
            call.secret_target
            or (selector is not None and _SECRET_SELECTOR.search(selector) is not None)
            or any(_RESOLVED_SECRET.search(line) for line in call.logs)
        )
        if targeted:
            focus_secret = own
        elif call.method in ("mouseClick", "mouseDown") or str_(call.params, "key") == "Tab":
            focus_secret = False
        text = str_(call.params, "value") or str_(call.params, "text")
        if text and _classify(call) in ("fill", "press") and (own or (not targeted and focus_secret)):
            redactor.add_secret(text)


def _classify(call: _Call) -> str | None:
    names = []
    if call.label:
        if call.label.lower().startswith("expect"):
            names.append("expect")
        names.append(squeeze(call.label.rsplit(".", 1)[-1]))
    names.append(squeeze(call.method))
    for name in names:
        action = _ACTION_BY_NAME.get(name)
        if action is not None:
            if action == "fill" and str_(call.params, "text") in _TYPED_KEYS:
                return "press"
            return action
    return None


class _Memo:
    """Redacts each distinct string once (selectors and URLs repeat across thousands of steps); only valid once every
    secret has been added to the Redactor."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._texts: dict[str, str | None] = {}
        self._urls: dict[str, str | None] = {}

    def text(self, value: str | None) -> str | None:
        if value is None:
            return None
        if value not in self._texts:
            self._texts[value] = self._redactor.text(value)
        return self._texts[value]

    def url(self, value: str | None) -> str | None:
        if value is None:
            return None
        if value not in self._urls:
            self._urls[value] = self._redactor.url(value)
        return self._urls[value]


def _build(raw: _Raw, secrets: Redactor, path: Path) -> Trajectory:
    redactor = _Memo(secrets)
    offset = _clock_offset(raw)
    documents = _documents(raw)
    doc_times = [t for t, _ in documents]
    steps: list[Step] = []
    evaluations: list[Step] = []
    current: str | None = None
    page_at: list[tuple[float, str | None]] = []  # (call start, main-frame page then): which page a message showed on
    # A test runner's trace (test.trace) repeats the library calls as its own steps: the library's are the steps.
    library = any(c.cls != "Test" for c in raw.calls.values())
    for call in raw.calls.values():
        if library and call.cls == "Test":
            continue
        began = call.urls.get("before") or call.urls.get("action") or current
        action = _classify(call)
        navigated = [m.group(1) for line in call.logs if (m := _NAVIGATED.search(line))]
        goto_url = str_(call.params, "url") if action == "goto" and not call.error else None
        current = call.urls.get("after") or (navigated[-1] if navigated else None) or goto_url or began
        if call.start is not None:
            # A message printed while a call navigated came from the page it navigated to.
            page_at.append((call.start, current if current != began else began))
        parent = raw.calls.get(call.parent or "")
        if action is None or (parent is not None and _classify(parent) is not None):
            continue  # internal call, or a sub-step of an action already kept
        status = None
        if call.start is not None and call.end is not None:
            window = documents[bisect_left(doc_times, call.start) : bisect_right(doc_times, call.end)]
            status = window[-1][1] if window and window[-1][1] > 0 else None
        started = (
            call.wall
            if call.wall is not None
            else (call.start + offset if call.start is not None and offset is not None else None)
        )
        # A reload names no URL: its target is the page it reloads.
        target = redactor.url(str_(call.params, "url") or began) if action == "goto" else redactor.text(_target(call))
        step = Step(
            index=len(steps),
            action="other" if action == _EVALUATE else action,
            url=redactor.url(began),
            target=target,
            value=redactor.text(_value(call, action)),
            error=redactor.text(_squeeze_error(call)),
            http_status=status,
            started_at=started / 1000 if started is not None else None,
            duration_s=round((call.end - call.start) / 1000, 3) if call.start is not None and call.end is not None else None,
        )
        (evaluations if action == _EVALUATE else steps).append(step)
    steps = steps or [replace(s, index=i) for i, s in enumerate(evaluations)]

    starts = [c.start for c in raw.calls.values() if c.start is not None]
    ends = [c.end for c in raw.calls.values() if c.end is not None]
    started_at = min(starts) + offset if starts and offset is not None else raw.wall
    start_url = next((u for s in steps for u in (s.url, s.target if s.action == "goto" else None) if _is_page(u)), None)
    passed, why = _test_result(raw)
    return Trajectory(
        test_passed=passed,
        test_reason=redactor.text(why),
        source_kind="playwright-trace",
        steps=tuple(steps),
        start_url=start_url,
        page_messages=_messages(raw, sorted(page_at, key=lambda x: x[0]), redactor),
        http_failures=_http_failures(raw, redactor),
        started_at=started_at / 1000 if started_at is not None else None,
        duration_s=round((max(ends) - min(starts)) / 1000, 3) if starts and ends else None,
        source=str(path),
    )


def _messages(raw: _Raw, page_at: list[tuple[float, str | None]], redactor: _Memo) -> tuple[PageMessage, ...]:
    """Console errors and page errors, each with the page it showed on and the script or frame that printed it."""
    times = [t for t, _ in page_at]
    out: dict[tuple[str, str | None, str | None], None] = {}
    for when, text, source in sorted(raw.console, key=lambda x: x[0]):
        at = bisect_right(times, when) - 1
        page = page_at[at][1] if at >= 0 else None
        out[(redactor.text(text) or "", redactor.url(source), redactor.url(page))] = None
    return tuple(PageMessage(text=t, source_url=s, page_url=p) for t, s, p in out)


def _test_result(raw: _Raw) -> tuple[bool | None, str | None]:
    """A Playwright test's result, where the trace holds the test runner's steps: failed when a step (an assertion, a
    hook) or the test raised, passed when it ran through its assertions or its After Hooks without an error."""
    steps = [c for c in raw.calls.values() if c.cls == "Test"]
    if not steps and not raw.test_errors:
        return None, None
    errors = [c.error for c in steps if c.error] + raw.test_errors
    if errors:
        return False, "the test failed: " + " ".join(errors[0].split())[:200]
    finished = [c for c in steps if c.end is not None and (c.label == "After Hooks" or c.label.lower().startswith("expect"))]
    return (True, "the test passed") if finished else (None, None)


def _clock_offset(raw: _Raw) -> float | None:
    """Milliseconds to add to a monotonic time to get epoch milliseconds."""
    if raw.wall is not None and raw.mono is not None and raw.wall > 0:
        return raw.wall - raw.mono
    for call in raw.calls.values():
        if call.wall is not None and call.start is not None:
            return call.wall - call.start
    return raw.clock[1] - raw.clock[0] if raw.clock else None


def _documents(raw: _Raw) -> list[tuple[float, int]]:
    docs = []
    for res in raw.resources:
        frame = str_(res, "_frameref")
        if res.get("_resourceType") != "document" or (raw.main_frames and frame not in raw.main_frames):
            continue
        when, status = num(res, "_monotonicTime"), num(dict_(res, "response"), "status")
        if when is not None and status is not None:
            docs.append((when, int(status)))
    return sorted(docs)


def _http_failures(raw: _Raw, redactor: _Memo) -> tuple[HttpFailure, ...]:
    failures: dict[tuple[str, int, str], None] = {}
    for res in raw.resources:
        request, response = dict_(res, "request"), dict_(res, "response")
        url, status = str_(request, "url"), num(response, "status")
        failed = bool(res.get("_failureText") or response.get("_failureText")) or (status is not None and status <= 0)
        if url and (failed or (status is not None and status >= 400)):
            failures[(redactor.url(url) or "", 0 if failed else int(status or 0), str_(request, "method") or "GET")] = None
    return tuple(HttpFailure(url=u, status=s, method=m) for u, s, m in failures)


def _target(call: _Call) -> str | None:
    selector = str_(call.params, "selector")
    if selector and (m := _ARIA_REF.match(selector)):
        # Playwright MCP targets elements by snapshot ref (`aria-ref=e5 >> internal:describe="Password"`): the ref means
        # nothing in another session, the element's description does.
        return m.group(1) or m.group(2) or selector
    if selector and selector.startswith("internal:"):  # get_by_role & co.: the log names the locator as the user wrote it
        for line in call.logs:
            if m := _WAITING_FOR.match(line):
                return m.group(1)
    if selector is None and call.method in ("mouseClick", "mouseDblclick"):
        x, y = num(call.params, "x"), num(call.params, "y")
        return f"point ({x:g}, {y:g})" if x is not None and y is not None else None
    return selector


def _value(call: _Call, action: str | None) -> str | None:
    p = call.params
    if action == "fill":
        return str_(p, "value") if str_(p, "value") is not None else str_(p, "text")
    if action == "press":
        return str_(p, "key") or _TYPED_KEYS.get(str_(p, "text") or "")
    if action == "select":
        options = [o for o in (p.get("options") or []) if isinstance(o, dict)]
        picked = [next((str(o[k]) for k in ("valueOrLabel", "value", "label", "index") if k in o), "") for o in options]
        return ", ".join(x for x in picked if x) or None
    if action == "check":
        checked = p.get("checked", squeeze(call.method) != "uncheck")
        return "checked" if checked else "unchecked"
    if action == "scroll" and (num(p, "deltaY") or num(p, "deltaX")):
        dx, dy = num(p, "deltaX") or 0.0, num(p, "deltaY") or 0.0
        return f"{'down' if dy > 0 else 'up'} {abs(dy):g}px" if dy else f"{'right' if dx > 0 else 'left'} {abs(dx):g}px"
    if action == "upload":
        files = [str_(f, "name") for f in p.get("payloads") or p.get("files") or [] if isinstance(f, dict)]
        files += [PurePosixPath(f).name for f in p.get("localPaths") or [] if isinstance(f, str)]
        return ", ".join(f for f in files if f) or None
    if action == "wait" and squeeze(call.method) == "waitfortimeout":
        ms = num(p, "waitTimeout") or num(p, "timeout")
        return f"{ms:g} ms" if ms is not None else None
    if action == "other":
        return str_(p, "expression")
    if action == _EVALUATE:
        expression = str_(p, "expression")
        return expression[:200] if expression else None
    return None


def _squeeze_error(call: _Call) -> str | None:
    if not call.error:
        return None
    message = " ".join(call.error.split())[:300]
    if message.startswith("Timeout") and call.logs:  # "Timeout 500ms exceeded." alone does not say what it waited for
        message = f"{message} ({' '.join(call.logs[-1].split())})"
    return message


def _phase(title: object) -> str:
    return "action" if title == "input" else str(title)


def _is_page(url: str | None) -> bool:
    return bool(url) and not str(url).startswith(("about:", "data:", "chrome:", "chrome-error:"))
