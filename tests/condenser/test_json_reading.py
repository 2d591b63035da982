"""Logs are read with orjson where it can, and Python's json where orjson refuses: the result must never differ."""

from __future__ import annotations

import json
import math
from pathlib import Path

from webcoach.condenser.trace_format import loads

DATA = Path(__file__).parents[1] / "data"


def test_the_same_data_as_json_for_every_bundled_log() -> None:
    for path in DATA.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert loads(text) == json.loads(text), path.name


def test_what_orjson_refuses_python_json_reads() -> None:
    value = loads('{"t": NaN, "big": 123456789012345678901234567890, "s": "\\ud800"}')
    assert math.isnan(value["t"]) and value["big"] == 123456789012345678901234567890 and value["s"] == "\ud800"


def test_a_har_with_a_byte_order_mark_and_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    import pytest
    from webcoach.condenser.sources import load_trajectory
    from webcoach.errors import InputError

    har = {"log": {"entries": [{"request": {"method": "GET", "url": "https://example.org/", "headers": []},
                                "response": {"status": 200, "headers": [], "content": {"mimeType": "text/html"}}}]}}  # fmt: skip
    bom = tmp_path / "chrome.har"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(har).encode())
    assert [s.target for s in load_trajectory(bom).steps] == ["https://example.org/"]
    latin = tmp_path / "latin.har"
    latin.write_bytes(json.dumps(har).replace("example", "\u00e9xample").encode("latin-1"))
    with pytest.raises(InputError, match="not a text file"):
        load_trajectory(latin)
