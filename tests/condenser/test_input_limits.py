"""Logs that are too big or too deep: refused early, in one line, with bounded time and memory; the batch goes on."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pytest
from webcoach.condenser.condense import condense
from webcoach.errors import InputError
from webcoach.memory.ingest import ingest_files
from webcoach.memory.store import EpisodeStore

DATA = Path(__file__).parents[1] / "data"
GOOD = DATA / "browser_use_cheapest_scifi.json"


def test_a_zip_bomb_of_newlines_is_refused_quickly(tmp_path: Path) -> None:
    bomb = tmp_path / "trace.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("trace.trace", "w") as member:
        for _ in range(200):
            member.write(b"\n" * (1024 * 1024))  # 200 MB inflated, ~200 KB on disk
    assert bomb.stat().st_size < 1024 * 1024
    started = time.monotonic()
    with pytest.raises(InputError, match=r"trace\.trace has too many lines, over the limit of .*WEBCOACH_MAX_INPUT_LINES"):
        condense(bomb, task="t")
    assert time.monotonic() - started < 10  # 78 s and 3.4 GB before the cap


def test_a_member_declared_too_big_is_refused_before_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBCOACH_MAX_INPUT_MB", "1")
    big = tmp_path / "trace.zip"
    with zipfile.ZipFile(big, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("trace.trace", "{}\n" * (1024 * 1024))
    with pytest.raises(InputError, match=r"trace\.trace inflates to 3 MB, over the limit of 1 MB"):
        condense(big, task="t")
    history = tmp_path / "big.json"
    data = json.loads(GOOD.read_text())
    data["padding"] = "x" * (2 * 1024 * 1024)
    history.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"2 MB, over the limit of 1 MB for one log; raise WEBCOACH_MAX_INPUT_MB"):
        condense(history)
    monkeypatch.setenv("WEBCOACH_MAX_INPUT_LINES", "5")
    monkeypatch.setenv("WEBCOACH_MAX_INPUT_MB", "100")
    with pytest.raises(InputError, match=r"too many lines"):
        condense(big, task="t")


def test_deeply_nested_json_is_an_input_error_and_the_batch_goes_on(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"history": ' + "[" * 100_000 + "]" * 100_000 + "}")
    deep_har = tmp_path / "deep.har"
    deep_har.write_text('{"log": {"entries": [' + '{"a":' * 50_000 + "1" + "}" * 50_000 + "]}}")
    for path in (deep, deep_har):
        with pytest.raises(InputError) as err:
            condense(path, task="t")
        assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="nested too deeply"):
        condense(deep, task="t")
    with EpisodeStore(embedder="hashing") as store:
        results = ingest_files(store, [deep, deep_har, GOOD])
    assert [r.status for r in results] == ["error", "error", "added"]


def test_a_live_trace_is_capped_like_a_zip(shop_trace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    live = tmp_path / "traces" / "trace-1795579762000.trace"
    live.parent.mkdir()
    live.write_bytes(zipfile.ZipFile(shop_trace).read("trace.trace"))
    assert condense(live, task="t").step_count > 0
    monkeypatch.setenv("WEBCOACH_MAX_INPUT_LINES", "5")
    with pytest.raises(InputError, match=r"trace-1795579762000\.trace has too many lines"):
        condense(live, task="t")
    monkeypatch.setenv("WEBCOACH_MAX_INPUT_MB", "0.001")
    with pytest.raises(InputError, match=r"over the limit of 0 MB"):
        condense(live, task="t")
