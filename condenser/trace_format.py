"""The trace.zip container and its field shapes: which members hold events, how to read them line by line, and
type-safe access to fields that changed names and types across Playwright's trace format versions."""

from __future__ import annotations

import json
import math
import re
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import orjson
from webcoach.errors import InputError
from webcoach.settings import InputLimits, input_limits

TRACE_FILE = re.compile(r"(?:^|/)(?:(?:\d+-)?trace|test)\.trace$")  # test.trace: the test runner's steps and result
NETWORK_FILE = re.compile(r"(?:^|/)(?:\d+-)?trace\.network$")


def read_zip(path: Path) -> tuple[list[bytes], list[bytes]]:
    limits = input_limits()
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            traces = sorted(n for n in names if TRACE_FILE.search(n))
            if not traces:
                raise InputError(
                    f"{path}: a zip but not a Playwright trace (no trace.trace inside); pass the file from tracing.stop()"
                )
            networks = sorted(n for n in names if NETWORK_FILE.search(n))
            budget = Budget(path, limits)
            read = [_member_lines(archive, n, budget) for n in (*traces, *networks)]
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(
            f"{path}: not a readable trace.zip ({reason}); the file is truncated or corrupt, record it again"
        ) from exc
    return [x for lines in read[: len(traces)] for x in lines], [x for lines in read[len(traces) :] for x in lines]


class Budget:
    """The bytes and lines still allowed across the files of one log (WEBCOACH_MAX_INPUT_MB / _LINES)."""

    def __init__(self, path: Path, limits: InputLimits) -> None:
        self.path = path
        self.limits = limits
        self.bytes = limits.max_bytes
        self.lines = limits.max_lines

    def too_big(self, what: str) -> InputError:
        return InputError(
            f"{self.path}: {what}, over the limit of {self.limits.max_bytes // (1024 * 1024)} MB / "
            f"{self.limits.max_lines} lines for one log; raise WEBCOACH_MAX_INPUT_MB / WEBCOACH_MAX_INPUT_LINES if it is real"
        )


def is_unzipped_trace(path: Path) -> bool:
    """A folder holding what a trace.zip holds (trace.trace, N-trace.trace, test.trace, *.network, resources/)."""
    return path.is_dir() and any(TRACE_FILE.search(p.name) for p in path.iterdir() if p.is_file())


def read_folder(path: Path) -> tuple[list[bytes], list[bytes]]:
    """(event lines, network lines) of an unzipped trace.zip, read as the zip would be."""
    files = sorted(p for p in path.iterdir() if p.is_file())
    traces = [p for p in files if TRACE_FILE.search(p.name)]
    networks = [p for p in files if NETWORK_FILE.search(p.name)]
    budget = Budget(path, input_limits())
    try:
        read = []
        for member in (*traces, *networks):
            with member.open("rb") as raw:
                read.append(read_lines(raw, member.name, budget))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the trace folder ({exc.strerror or exc})") from exc
    return [x for lines in read[: len(traces)] for x in lines], [x for lines in read[len(traces) :] for x in lines]


def _member_lines(archive: zipfile.ZipFile, name: str, budget: Budget) -> list[bytes]:
    """A member's lines, read as a stream: the declared size is checked first (a zip bomb is refused before it is
    inflated) and the real size and line count as it is read (headers can lie), so memory stays bounded."""
    declared = archive.getinfo(name).file_size
    if declared > budget.bytes:
        raise budget.too_big(f"{name} inflates to {declared // (1024 * 1024)} MB")
    with archive.open(name) as raw:
        return read_lines(raw, name, budget)


_CHUNK = 1 << 20  # bytes read at a time: one read per chunk, not one Python call per line (~4x faster on traces)


def read_lines(raw: IO[bytes], name: str, budget: Budget) -> list[bytes]:
    """The non-empty lines of a stream, as bytes (orjson reads bytes; only the few lines searched as text are decoded),
    charged to `budget` chunk by chunk and refused as soon as it runs out, so memory stays bounded by the budget."""
    lines: list[bytes] = []
    pending: list[bytes] = []  # the start of a line that runs past the chunk (DOM snapshots can be megabytes)
    while chunk := raw.read(_CHUNK):
        budget.bytes -= len(chunk)
        if budget.bytes < 0:
            raise budget.too_big(f"{name} is bigger than it says")
        parts = chunk.split(b"\n")
        if len(parts) == 1:
            pending.append(chunk)
            continue
        pending.append(parts[0])
        parts[0] = b"".join(pending)
        pending = [parts.pop()]
        _keep(lines, parts, name, budget)
    _keep(lines, [b"".join(pending)] if any(pending) else [], name, budget)
    return lines


def _keep(lines: list[bytes], parts: list[bytes], name: str, budget: Budget) -> None:
    budget.lines -= len(parts)
    if budget.lines < 0:
        raise budget.too_big(f"{name} has too many lines")
    lines.extend(filter(None, parts))  # empty lines carry no event: counted, not kept (`events` skips blank ones)


def loads(text: str | bytes) -> Any:
    """json.loads, through orjson (2-3x faster on big logs, and no decoding of bytes first) where it can read the text;
    Python's json for what orjson refuses and json reads (NaN, Infinity, huge integers, lone surrogates), so the result
    never differs. Bytes that are not UTF-8 raise UnicodeDecodeError."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)


# A DOM snapshot's `html` (the page's whole tree, most of a real trace's bytes) is never read: the snapshot's own fields
# (frame, URL, call, times) are. Playwright writes them `{"type":"frame-snapshot","snapshot":{"callId":...,"frameUrl":
# ...,"html":[...],"viewport":...}}`: up to the first `"html"` key every value is a plain string or number (its text
# cannot hold an unescaped quote), and the last `"viewport"` key is the snapshot's own (the tree's attribute names come
# before it), so what lies between is the tree alone. A line laid out otherwise, or that does not parse so, is parsed
# whole.
_SNAPSHOT_HEAD = re.compile(rb'\{\s*"type"\s*:\s*"frame-snapshot"\s*,\s*"snapshot"\s*:\s*\{')
_DOM = re.compile(rb',\s*"html"\s*:')
_AFTER_DOM = b'"viewport"'


def _without_dom(line: bytes) -> dict[str, Any] | None:
    dom = _DOM.search(line)
    after = line.rfind(_AFTER_DOM)
    if dom is None or after <= dom.end():
        return None
    comma = line.rfind(b",", dom.end(), after)
    if comma < 0 or line[comma + 1 : after].strip():  # the viewport key must follow a comma of the snapshot's own
        return None
    try:
        event = orjson.loads(line[: dom.start()] + line[comma:])
    except orjson.JSONDecodeError:
        return None
    snapshot = event.get("snapshot") if isinstance(event, dict) else None
    return event if isinstance(snapshot, dict) and "viewport" in snapshot and "html" not in snapshot else None


def events(lines: list[bytes]) -> Iterator[tuple[bytes, dict[str, Any]]]:
    # A run killed mid-write leaves a cut-off last line; other broken lines are skipped the same way.
    for line in lines:
        if _SNAPSHOT_HEAD.match(line) and (event := _without_dom(line)) is not None:
            yield line, event
            continue
        try:
            event = orjson.loads(line)  # nearly every line; `loads` (with its fallbacks) only for the rest
        except orjson.JSONDecodeError:
            try:
                try:
                    event = loads(line)
                except UnicodeDecodeError:  # a stray non-UTF-8 byte costs that character, not the event
                    event = loads(line.decode("utf-8", errors="replace"))
            except json.JSONDecodeError:
                continue
        if isinstance(event, dict):
            yield line, event


def error_message(error: object) -> str | None:
    if isinstance(error, str):
        return error or None
    if not isinstance(error, dict):
        return None
    inner = error.get("error")
    if isinstance(inner, dict):
        error = inner
    message, name = str_(error, "message") or str_(error, "value"), str_(error, "name")  # type: ignore[arg-type]
    if message and name and name not in ("Error", "") and not message.startswith(name):
        return f"{name}: {message}"
    return message


def squeeze(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def str_(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    return value if isinstance(value, str) else None


def num(d: Mapping[str, Any], key: str) -> float | None:
    value = d.get(key)
    # Finite only: Python's json reads NaN and Infinity, which break int() and every sum. Exact types first: a trace
    # asks this for every timestamp of every event.
    if type(value) is float or type(value) is int:
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def dict_(d: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = d.get(key)
    return value if isinstance(value, dict) else {}
