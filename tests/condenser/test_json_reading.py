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
