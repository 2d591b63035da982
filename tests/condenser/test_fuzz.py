"""Mutated real logs of every kind (browser-use histories; a HAR, a trace.zip and a live .trace recorded with real
chromium): condense returns an Episode or raises InputError, nothing else, and ingest goes on to the next file. Seeded
and bounded: a few hundred cases in seconds."""

from __future__ import annotations

import json
import os
import random
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from webcoach.condenser.condense import condense
from webcoach.condenser.episode import Episode
from webcoach.errors import InputError
from webcoach.memory.ingest import ingest_files
from webcoach.memory.store import EpisodeStore

DATA = Path(__file__).parents[1] / "data"
HISTORIES = sorted(DATA.glob("browser_use_*.json"))
CASES_PER_KIND = int(os.environ.get("WEBCOACH_FUZZ_CASES", "50"))  # x 6 kinds = 300 cases (more: set the variable)

ODD_VALUES: list[Any] = [
    None,
    0,
    -1,
    2**70,
    1.5e308,
    float("nan"),
    float("inf"),
    -0.0,
    True,
    "",
    "https://[website].com/r",
    "http://[::1",
    "http://h:99999/x",
    "javascript:alert(1)",
    "\x00\udcff",
    "x" * 5000,
    [],
    {},
    [None],
    {"url": None},
    {"": {"": []}},
    [[[[[[[[[[]]]]]]]]]],
]


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*here, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*here, i))
    return out


def mutate_json(data: Any, rng: random.Random, edits: int) -> Any:
    """Replace, delete or retype a few nodes anywhere in the document."""
    data = json.loads(json.dumps(data))
    for _ in range(edits):
        paths = [p for p in _paths(data) if p]
        if not paths:
            return rng.choice(ODD_VALUES)
        path = rng.choice(paths)
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        choice = rng.random()
        if (choice < 0.25 and isinstance(parent, dict)) or (choice < 0.35 and isinstance(parent, list)):
            del parent[key]
        elif choice < 0.45:
            parent[key] = str(parent[key])[::-1]
        else:
            parent[key] = rng.choice(ODD_VALUES)
    return data


def mutate_bytes(blob: bytes, rng: random.Random) -> bytes:
    choice = rng.random()
    if choice < 0.4:
        return blob[: rng.randrange(len(blob))]
    out = bytearray(blob)
    for _ in range(rng.randint(1, 20)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def mutate_trace(trace: Path, target: Path, rng: random.Random) -> None:
    if rng.random() < 0.15:
        target.write_bytes(mutate_bytes(trace.read_bytes(), rng))
        return
    with zipfile.ZipFile(trace) as src, zipfile.ZipFile(target, "w") as dst:
        for name in src.namelist():
            body = src.read(name)
            if name.endswith((".trace", ".network")):
                lines = body.decode().splitlines()
                for _ in range(rng.randint(1, 6)):
                    i = rng.randrange(len(lines))
                    try:
                        lines[i] = json.dumps(mutate_json(json.loads(lines[i]), rng, rng.randint(1, 4)))
                    except json.JSONDecodeError:
                        lines[i] = lines[i][::-1]
                body = "\n".join(lines).encode()
            dst.writestr(name, body)


def mutate_live_trace(trace: Path, target: Path, rng: random.Random) -> None:
    """A Playwright MCP live trace (`.trace`, NDJSON): the zip's trace.trace with a few lines mutated or cut."""
    lines = zipfile.ZipFile(trace).read("trace.trace").decode().splitlines()
    for _ in range(rng.randint(1, 6)):
        i = rng.randrange(len(lines))
        lines[i] = json.dumps(mutate_json(json.loads(lines[i]), rng, rng.randint(1, 4)))
    body = "\n".join(lines).encode()
    target.write_bytes(mutate_bytes(body, rng) if rng.random() < 0.15 else body)


def mutate_json_file(source: Path, target: Path, rng: random.Random) -> None:
    if rng.random() < 0.15:
        target.write_bytes(mutate_bytes(source.read_bytes(), rng))
        return
    data = json.loads(source.read_text())
    target.write_text(json.dumps(mutate_json(data, rng, rng.randint(1, 8))))


def check(path: Path) -> str:
    """ "episode" or "error" (an InputError); anything else raised is a finding."""
    try:
        # Histories carry their own task; traces and HARs need one.
        episode = condense(path, task=None if path.suffix == ".json" else "Find the cheapest book")
    except InputError as exc:
        assert "\n" not in str(exc), str(exc)
        # The last-resort net in sources.py must stay unused: the parsers themselves should say what is wrong.
        assert "not a readable trace, HAR or browser-use history (" not in str(exc), str(exc)
        return "error"
    assert isinstance(episode, Episode)
    return "episode"


@pytest.fixture(scope="module")
def kinds(shop_trace: Path, shop_har: Path) -> list[tuple[str, Path, Callable[[Path, Path, random.Random], None]]]:
    return [
        *[(f"history-{p.stem}", p, mutate_json_file) for p in HISTORIES],
        ("har", shop_har, mutate_json_file),
        ("trace", shop_trace, mutate_trace),
        ("live-trace", shop_trace, mutate_live_trace),
    ]


def test_mutated_logs_give_an_episode_or_an_input_error(
    kinds: list[tuple[str, Path, Callable[[Path, Path, random.Random], None]]], tmp_path: Path
) -> None:
    started = time.monotonic()
    failures: list[str] = []
    outcomes: dict[str, int] = {}
    for kind, source, mutate in kinds:
        for case in range(CASES_PER_KIND):
            rng = random.Random(f"{kind}-{case}")
            target = tmp_path / f"{kind}-{case}{'.trace' if kind == 'live-trace' else source.suffix}"
            mutate(source, target, rng)
            try:
                result = check(target)
            except Exception as exc:  # the point: anything but InputError is a finding
                failures.append(f"{kind} case {case}: {type(exc).__name__}: {str(exc)[:160]}")
            else:
                outcomes[result] = outcomes.get(result, 0) + 1
            target.unlink()
    assert not failures, "\n".join(failures)
    assert outcomes.get("episode", 0) > 50 and outcomes.get("error", 0) > 20, outcomes  # both paths exercised
    assert time.monotonic() - started < 120


def test_ingest_goes_on_past_mutated_files(
    kinds: list[tuple[str, Path, Callable[[Path, Path, random.Random], None]]], tmp_path: Path
) -> None:
    batch: list[Path] = []
    for kind, source, mutate in kinds:
        for case in range(4):
            target = tmp_path / f"{kind}-{case}{'.trace' if kind == 'live-trace' else source.suffix}"
            mutate(source, target, random.Random(f"ingest-{kind}-{case}"))
            batch.append(target)
    batch.append(HISTORIES[0])
    with EpisodeStore(embedder="hashing") as store:
        results = ingest_files(store, batch, task="Find the cheapest book")
    assert len(results) == len(batch)
    assert results[-1].status in ("added", "duplicate")
    assert all(r.status != "error" or (r.error and "\n" not in r.error) for r in results)
