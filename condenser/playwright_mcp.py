"""Playwright MCP's trace output: a live trace folder, not a zip.

`@playwright/mcp --save-trace` (releases up to 0.0.68) and `--caps=devtools` with the `browser_start_tracing` tool
(later releases) both write, under the server's `--output-dir` (default: `.playwright-mcp` in the client's root, else a
temp folder):

    OUTPUT_DIR/traces/trace-<epoch ms>.trace     NDJSON events, the same as trace.trace inside a trace.zip
    OUTPUT_DIR/traces/trace-<epoch ms>.network   NDJSON network log (HTTP statuses)
    OUTPUT_DIR/traces/trace-<epoch ms>.stacks    call stacks (never read)
    OUTPUT_DIR/traces/resources/                 snapshots and screenshots shared by every trace of the folder

Sessions that share an output dir share the traces folder, so a folder may hold several runs; each `.trace` is one.
The files are written live: a trace read while its session is still open is readable, just shorter.
"""

from __future__ import annotations

import re
from pathlib import Path

from webcoach.condenser.trace_format import Budget, is_unzipped_trace, read_lines
from webcoach.errors import InputError
from webcoach.settings import input_limits

TRACE_SUFFIX = ".trace"
_STAMP = re.compile(r"(\d{10,})")  # trace-<epoch ms>: the session's start, which orders traces better than mtime


def is_live_trace(path: Path) -> bool:
    """A `.trace` file, or a folder holding Playwright MCP traces."""
    return path.suffix == TRACE_SUFFIX or (path.is_dir() and bool(trace_files(path)))


def trace_files(path: Path) -> list[Path]:
    """The traces `path` names, oldest first: a `.trace` file itself, a traces folder, or an output folder holding
    `traces/`."""
    if path.is_file():
        return [path] if path.suffix == TRACE_SUFFIX else []
    found: list[Path] = []
    for folder in (path, path / "traces"):
        if folder.is_dir():
            found.extend(p for p in folder.glob(f"*{TRACE_SUFFIX}") if p.is_file())
    return sorted(set(found), key=_started)


def expand_folders(paths: list[Path]) -> list[Path]:
    """Each folder holding Playwright MCP traces replaced by its traces (oldest first); other paths kept as they are."""
    # An unzipped trace.zip (trace.trace, test.trace, trace.network side by side) is one run, read whole.
    return [t for p in paths for t in ((trace_files(p) or [p]) if p.is_dir() and not is_unzipped_trace(p) else [p])]


def _started(trace: Path) -> tuple[int, float, str]:
    m = _STAMP.search(trace.stem)
    try:
        mtime = trace.stat().st_mtime
    except OSError:
        mtime = 0.0
    return (int(m.group(1)) if m else 0, mtime, trace.name)


def read_live_trace(trace: Path) -> tuple[list[bytes], list[bytes]]:
    """(event lines, network lines) of one live trace; the network log is optional (older traces lack it)."""
    if trace.is_dir():
        traces = trace_files(trace)
        if len(traces) != 1:
            raise InputError(
                f"{trace}: holds {len(traces)} Playwright MCP traces; pass one .trace file"
                + (f" (newest: {traces[-1]})" if traces else "")
            )
        trace = traces[0]
    network = trace.with_suffix(".network")
    budget = Budget(trace, input_limits())  # capped like a trace.zip's members, and read as a stream too
    try:
        events = _read(trace, budget)
        lines = _read(network, budget) if network.is_file() else []
    except FileNotFoundError as exc:
        raise InputError(f"{trace}: no such file") from exc
    except OSError as exc:
        raise InputError(f"{trace}: cannot read the trace ({exc.strerror or exc})") from exc
    return events, lines


def _read(path: Path, budget: Budget) -> list[bytes]:
    size = path.stat().st_size
    if size > budget.bytes:
        raise budget.too_big(f"{path.name} is {size // (1024 * 1024)} MB")
    with path.open("rb") as raw:
        return read_lines(raw, path.name, budget)
