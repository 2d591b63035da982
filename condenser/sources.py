"""Turn whatever the user points at (a trace.zip, a HAR, a browser-use history JSON or a live AgentHistoryList)
into a redacted Trajectory, with a one-line InputError for anything that is not one of those."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from webcoach.condenser.playwright_mcp import TRACE_SUFFIX, trace_files
from webcoach.condenser.raw_json import without_screenshots
from webcoach.condenser.redact import Redactor
from webcoach.condenser.trace_format import is_unzipped_trace, loads, read_zip
from webcoach.condenser.trajectory import Trajectory
from webcoach.errors import InputError
from webcoach.settings import input_limits


def load_trajectory(
    source: object,
    *,
    secrets: Iterable[str] = (),
    sensitive_data: Mapping[str, Any] | None = None,
) -> Trajectory:
    """`secrets`: extra values to mask everywhere; `sensitive_data`: browser-use's {placeholder: value} (or
    {domain: {placeholder: value}}) mapping, whose values are masked too."""
    redactor = Redactor(secrets)
    for value in sensitive_values(sensitive_data):
        redactor.add_secret(value)

    name = str(source) if isinstance(source, str | Path) else "<dict>"
    try:
        if isinstance(source, str | Path):
            return _load_path(source if isinstance(source, Path) else Path(source), redactor)
        if hasattr(source, "history") and hasattr(source, "model_dump"):
            from webcoach.condenser.browser_use_history import parse_history

            return parse_history(source, redactor)
        if isinstance(source, Mapping):
            return _from_json(source, redactor, name)
    except RecursionError as exc:  # json.loads and every walk over nested data recurse
        raise InputError(f"{name}: nested too deeply to be a trace, HAR or browser-use history") from exc
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, OverflowError) as exc:
        # The parsers check every field they read (tests/condenser/test_fuzz.py mutates real logs to keep it so); a
        # shape they still missed is a bad file, not a reason to stop a whole ingest with a traceback.
        raise InputError(
            f"{name}: not a readable trace, HAR or browser-use history ({type(exc).__name__}: {_first_line(exc)})"
        ) from exc
    raise InputError(
        f"cannot condense a {type(source).__name__}: pass a trace.zip, a .har, a browser-use history .json or an AgentHistoryList"
    )


def _load_path(path: Path, redactor: Redactor) -> Trajectory:
    try:
        is_dir = stat.S_ISDIR(os.stat(path).st_mode)  # os, not pathlib: a batch ingest opens thousands of logs
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    if is_dir or path.suffix == TRACE_SUFFIX:
        return _load_folder_or_live(path, redactor)
    limits = input_limits()
    try:
        # One open for the kind and the content: a batch ingest reads thousands of small logs.
        with open(path, "rb") as handle:
            head = handle.read(64)
            # What a file is comes from its bytes, not its name: a HAR saved as .zip is still a HAR. A zip's first
            # bytes are "PK" unless something is prepended (a self-extracting archive): only then is the end searched.
            looks_json = head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith((b"{", b"["))
            if head.startswith(b"PK") or (not looks_json and zipfile.is_zipfile(handle)):
                zipped = True
            else:
                zipped = False
                size = os.fstat(handle.fileno()).st_size
                if size > limits.max_bytes:
                    raise InputError(
                        f"{path}: {size // (1024 * 1024)} MB, over the limit of {limits.max_bytes // (1024 * 1024)} MB "
                        "for one log; raise WEBCOACH_MAX_INPUT_MB if it is real"
                    )
                handle.seek(0)  # read whole in one piece: `head + rest` would copy a big log once more
                raw = handle.read().removeprefix(b"\xef\xbb\xbf")  # Chrome can save a HAR with a byte-order mark
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    if zipped:
        from webcoach.condenser.playwright_trace import parse_lines

        return parse_lines(path, read_zip(path), redactor)
    if path.suffix == ".zip" and not looks_json:
        looks = "an empty file" if not head else "text" if _is_text(head) else "binary data"
        raise InputError(f"{path}: named .zip but it is not a zip file (it looks like {looks}): expected a trace.zip")
    if not raw.strip():
        raise InputError(f"{path}: file is empty")
    try:
        try:
            data = loads(without_screenshots(raw) if b'"history"' in head else raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = loads(raw)  # the error, where it is in the file as it is
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a text file and not a zip: expected a trace.zip, a .har or a history .json") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if not isinstance(data, Mapping):
        raise InputError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return _from_json(data, redactor, str(path))


def _load_folder_or_live(path: Path, redactor: Redactor) -> Trajectory:
    """A folder (an Online-Mind2Web task, Playwright MCP's output, an unzipped trace) or a live `.trace` file."""
    if path.is_dir() and (path / "result.json").is_file() and not trace_files(path):
        return _load_path(path / "result.json", redactor)  # an Online-Mind2Web task folder: result.json beside screenshots
    if path.is_dir() and not trace_files(path) and not is_unzipped_trace(path):
        raise InputError(
            f"{path}: is a directory with no Playwright MCP traces (traces/*.trace); pass the trace.zip, .trace or history .json inside it"
        )
    from webcoach.condenser.playwright_trace import parse_trace

    return parse_trace(path, redactor)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else "no detail"


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(b >= 32 or b in b"\t\r\n" for b in head)


def _from_json(data: Mapping[str, Any], redactor: Redactor, name: str) -> Trajectory:
    if "history" in data:
        from webcoach.condenser.browser_use_history import parse_history

        return parse_history(data, redactor, source=name)
    log = data.get("log")
    if isinstance(log, Mapping) and "entries" in log:
        from webcoach.condenser.har import parse_har

        return parse_har(data, redactor, source=name)
    from webcoach.condenser.mind2web import looks_like_mind2web, parse_mind2web

    if looks_like_mind2web(data):
        return parse_mind2web(data, redactor, source=name)
    raise InputError(
        f"{name}: JSON is neither a browser-use history (no 'history' key), a HAR (no 'log.entries') nor an "
        "Online-Mind2Web result.json (no 'action_history')"
    )


def sensitive_values(sensitive_data: Mapping[str, Any] | None) -> list[str]:
    if not sensitive_data:
        return []
    values: list[str] = []
    for value in sensitive_data.values():
        if isinstance(value, Mapping):  # browser-use's per-domain form: {"https://*.example.com": {"x_pw": "..."}}
            values.extend(str(v) for v in value.values() if v)
        elif value:
            values.append(str(value))
    return values
