"""The condenser's shortcuts for speed give exactly what the plain forms they replaced give.

Each shortcut skips work that cannot change the result (a token format whose literal is absent, a word that no
separator follows, a URL that names no secret-looking key, a line read in chunks); each test runs the plain form as the
oracle on text built to reach the edges, and on every string of the shared real logs where they are beside the repo."""

from __future__ import annotations

import io
import json
import random
import re
import string
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import orjson
import pytest
from webcoach.condenser import guard, har, redact, secrets, trace_format
from webcoach.condenser.raw_json import without_screenshots
from webcoach.condenser.sources import load_trajectory
from webcoach.condenser.urls import split_url
from webcoach.errors import InputError

REALLOGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "reallogs" / "files"
ALNUM = string.ascii_letters + string.digits


def _real_strings() -> list[str]:
    """Every string value in the shared real logs' JSON files (none without ../shared)."""
    found: list[str] = []
    for path in sorted(REALLOGS.glob("*")) if REALLOGS.is_dir() else []:
        if path.suffix not in (".json", ".har"):
            continue
        try:
            stack = [orjson.loads(path.read_bytes().removeprefix(b"\xef\xbb\xbf"))]
        except orjson.JSONDecodeError:
            continue  # the deliberately broken file
        while stack:
            node = stack.pop()
            if isinstance(node, str) and len(node) < 20_000:
                found.append(node)
            elif isinstance(node, dict):
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return found


def _token_samples(rng: random.Random) -> list[str]:
    def r(chars: str, n: int) -> str:
        return "".join(rng.choice(chars) for _ in range(n))

    lower = string.ascii_lowercase + string.digits
    return [
        "github_pat_" + r(ALNUM + "_", 40),
        "ghp_" + r(ALNUM, 36),
        "glpat-" + r(ALNUM, 22),
        "hf_" + r(ALNUM, 34),
        "npm_" + r(ALNUM, 36),
        "ya29." + r(ALNUM, 30),
        "sk_live_" + r(ALNUM, 24),
        "sk-ant-" + r(ALNUM, 40),
        "xoxb-" + r(ALNUM, 20),
        "AIza" + r(ALNUM, 35),
        " AKC" + r(ALNUM, 12) + " ",
        "=AP1" + r(ALNUM, 10) + '"',
        "AKIA" + r(string.ascii_uppercase + string.digits, 16),
        "aws_secret_key = '" + r(ALNUM, 40) + "'",
        "AccountKey=" + r(ALNUM, 88),
        "M" + r(ALNUM, 24) + "." + r(ALNUM, 6) + "." + r(ALNUM, 27),
        "glimt-" + r(ALNUM, 25),
        "eyJ" + r(ALNUM, 10) + "." + r(ALNUM, 10),
        r(lower, 32) + "-us12",
        "sk-" + r(ALNUM, 20) + "T3BlbkFJ" + r(ALNUM, 20),
        "BEGIN RSA PRIVATE KEY",
        "SG." + r(ALNUM, 22) + "." + r(ALNUM, 43),
        "xoxp-123-456-abc",
        "https://hooks.slack.com/services/T123/B456/abc",
        "sq0csp-" + r(ALNUM, 43),
        "123456789:" + r(ALNUM, 35),
        "AC" + r(lower, 32),
        "SK" + r(lower, 32),
    ]


def _mixed(rng: random.Random, pieces: list[str], noise: str, count: int) -> Iterator[str]:
    for _ in range(count):
        parts = [
            rng.choice(pieces) if rng.random() < 0.3 else "".join(rng.choice(noise) for _ in range(rng.randint(0, 30)))
            for _ in range(rng.randint(1, 5))
        ]
        yield rng.choice(["", " ", "=", ":", "x"]).join(parts)


def test_token_formats_are_only_skipped_where_they_cannot_match() -> None:
    rng = random.Random(5)
    samples = _token_samples(rng)
    full = re.compile("|".join(f"(?:{part})" for part, _ in secrets.token_formats()))  # the one alternation it replaced
    for sample in samples:  # each format is really masked, so equal output below is not two no-ops
        assert secrets.sub_tokens(f"key {sample} end", "[X]") != f"key {sample} end", sample
    texts = [*_mixed(rng, samples, ALNUM + " .:-_=\"'/", 3000), *_real_strings()]
    assert [secrets.sub_tokens(t, "[X]") for t in texts] == [full.sub("[X]", t) for t in texts]


def test_every_required_literal_is_in_every_match() -> None:
    rng = random.Random(6)
    for sample in _token_samples(rng):
        for pattern, literal in secrets.token_formats():
            match = re.search(pattern, f" {sample} ")
            if match and literal:
                assert literal in match.group(0), (pattern, sample)
    assert secrets.required_literal(r"(?i)abc") is None  # a case-blind literal is not one string
    assert secrets.required_literal(r"(?:abc)?de") == "de"
    assert secrets.required_literal(r"x*|yz") is None


def test_secret_pairs_are_found_as_the_plain_pattern_finds_them() -> None:
    plain = re.compile(
        rf"""(?P<key>["']?[\w\-]*(?:{redact._PAIR_KEYWORDS})[\w\-]*["']?)"""
        r"""(?P<sep>\s*[:=]\s*)(?P<q>["']?)(?P<val>[^\s"'&,;}]{1,})""",
        re.IGNORECASE,
    )
    rng = random.Random(7)
    keys = [
        f"{pre}{kw}{post}"
        for kw in ("password", "Pwd", "token", "api_key", "sessionid", "otp")
        for pre in ("", "x", "my-", "'", '"', "a'", 'b"')
        for post in ("", "s", "_id", "'", '"')
    ]
    pieces = [f"{k}{sep}{q}hunter2{q}" for k in keys for sep in ("=", ": ", " = ") for q in ("", "'", '"')]
    # The plain pattern is quadratic in a word's length: the real logs' long page texts would take seconds.
    texts = [*_mixed(rng, pieces, "ab-_\"' :=&,;}\npasswordtoken", 4000), *(t for t in _real_strings() if len(t) < 2000)]

    def masked(pattern: re.Pattern[str], text: str) -> str:
        return pattern.sub(lambda m: f"{m.group('key')}{m.group('sep')}{m.group('q')}[X]", text)

    assert [masked(redact._PAIR, t) for t in texts] == [masked(plain, t) for t in texts]
    assert masked(redact._PAIR, 'x "password": "hunter2"') == 'x "password": "[X]"'


def test_card_numbers_are_found_as_the_plain_pattern_finds_them() -> None:
    plain = re.compile(r"(?<![\d.])(?:\d[ \-]?){12,18}\d(?![\d.])")
    rng = random.Random(8)
    cards = ["4111 1111 1111 1111", "4111-1111-1111-1111", "5500005555555559", "1.4111111111111111", "41111111111111112"]
    texts = [*_mixed(rng, cards, "0123456789 -.x", 20000), *_real_strings()]
    assert [redact._CARD.sub(redact._mask_card, t) for t in texts] == [plain.sub(redact._mask_card, t) for t in texts]


def test_a_har_query_that_names_no_secret_key_is_not_parsed_and_none_is_missed() -> None:
    def plain(url: str) -> list[str]:
        parts = split_url(url)
        pairs = parse_qsl(parts.query, keep_blank_values=True) if parts else []
        return [v for k, v in pairs if v and har._secret_key(k)]

    rng = random.Random(9)
    names = [
        "code",
        "sig",
        "password",
        "s\tig",
        "co\nde",
        "pass%77ord",
        "pass+word",
        "state",
        "X-Amz-Signature",
        "q",
        "utm_source",
    ]
    urls = []
    for _ in range(5000):
        query = "&".join(
            rng.choice(names) + ("=" + rng.choice(["s3cret", "", "a b", "t\tab", "ü", "v#frag"]) if rng.random() < 0.9 else "")
            for _ in range(rng.randint(0, 4))
        )
        start = rng.choice(["http://a.test/", "https://u:p@b.test/p", "http://us?er@h.test/", "javascript:x", " http://e.test"])
        urls.append(start + rng.choice(["?", "#", "?#", "\t?", "?&"]) + query + rng.choice(["", " ", "#password=zz"]))
    for url in urls:
        assert [v for k, v in har._query_pairs(url) if v and har._secret_key(k)] == plain(url), url


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 20])
def test_trace_lines_read_in_chunks_are_the_file_s_lines(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace_format, "_CHUNK", chunk)
    data = b'{"a":1}\n\n  \n{"b":"' + b"x" * 100 + b'"}\r\n{"c":3}'
    budget = trace_format.Budget(Path("t"), trace_format.input_limits())
    lines = trace_format.read_lines(io.BytesIO(data), "t", budget)
    assert lines == [b'{"a":1}', b"  ", b'{"b":"' + b"x" * 100 + b'"}\r', b'{"c":3}']
    assert budget.lines == trace_format.input_limits().max_lines - 5  # empty lines count against the limit too
    assert [e for _, e in trace_format.events(lines)] == [{"a": 1}, {"b": "x" * 100}, {"c": 3}]


def test_a_stray_byte_costs_its_character_not_the_event() -> None:
    assert [e for _, e in trace_format.events([b'{"type":"log","message":"caf\xe9"}'])] == [
        {"type": "log", "message": "caf\ufffd"}
    ]


def test_invisible_characters_go_as_before() -> None:
    def plain(text: str) -> str:
        if text.isascii():
            return text
        kept = "".join(" " if ch in "\u2028\u2029" else ch for ch in text if unicodedata.category(ch) != "Cf")
        return guard._INVISIBLE_EXTRA.sub("", kept)

    rng = random.Random(10)
    pool = [chr(c) for c in range(0x2100)] + ["\u200b", "\u202e", "\u2028", "\u2029", "\ufeff", "\U000e0041", "\u00ad", "😀"]
    texts = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 30))) for _ in range(20000)]
    assert [guard._strip_invisible(t) for t in texts] == [plain(t) for t in texts]


def _blank_screenshots(node: object) -> object:
    if isinstance(node, dict):
        return {k: "" if k == "screenshot" and isinstance(v, str) else _blank_screenshots(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_blank_screenshots(x) for x in node]
    return node


def test_a_history_s_screenshots_are_emptied_before_parsing_and_nothing_else_changes() -> None:
    rng = random.Random(11)
    values = ["iVBORw0KGgo", 'a"b', "a\\", '\\"', '"', 'x\\\\"y', "😀", ""]
    for _ in range(3000):
        step = {
            "state": {"screenshot": rng.choice(values) * 3, "url": rng.choice(values), "my screenshot": "kept"},
            "screenshot": [1],  # not a string: left alone
            "note": '"screenshot": "inside a string"',
        }
        doc = {"history": [step] * rng.randint(0, 3)}
        raw = json.dumps(doc, indent=rng.choice([None, 2])).encode() if rng.random() < 0.5 else orjson.dumps(doc)
        assert orjson.loads(without_screenshots(raw)) == _blank_screenshots(doc), raw
    for path in sorted(REALLOGS.glob("bu_*.json")) if REALLOGS.is_dir() else []:
        raw = path.read_bytes()
        assert orjson.loads(without_screenshots(raw)) == _blank_screenshots(orjson.loads(raw)), path.name


def test_a_malformed_history_is_reported_where_the_file_is_broken(tmp_path: Path) -> None:
    shot = "A" * 5000
    broken = tmp_path / "h.json"
    broken.write_text('{"history": [{"state": {"screenshot": "' + shot + '", "url": "http://a.test/"}}, {"x": ]}')
    with pytest.raises(InputError, match=r"malformed JSON at line 1 column 5076"):
        load_trajectory(broken)


def _snapshot_line(html: object, *, compact: bool, viewport: bool = True) -> bytes:
    snapshot: dict[str, object] = {"callId": "call@8", "snapshotName": "before@call@8", "frameId": "frame@1"}
    snapshot |= {"frameUrl": "https://shop.test/cart", "html": html}
    if viewport:
        snapshot["viewport"] = {"width": 1280, "height": 720}
    snapshot |= {"timestamp": 5.5, "resourceOverrides": [], "isMainFrame": True}
    event = {"type": "frame-snapshot", "snapshot": snapshot}
    return orjson.dumps(event) if compact else json.dumps(event).encode()


def _without_html(event: dict[str, object]) -> dict[str, object]:
    snapshot = dict(event["snapshot"])  # type: ignore[call-overload]
    snapshot.pop("html", None)
    return {**event, "snapshot": snapshot}


@pytest.mark.parametrize("compact", [True, False])
def test_a_snapshot_s_dom_is_skipped_and_page_content_cannot_stand_in_for_its_fields(compact: bool) -> None:
    hostile = [
        "HTML",
        {"viewport": "1", "frameUrl": "https://evil.test/", "isMainFrame": "false"},
        ["BODY", {}, 'text with "viewport": {"width": 1} and ,"html": in it'],
        ["INPUT", {"type": "password", "value": "s3cret-Value", "viewport": "x"}],
    ]
    for html in (["HTML", {}, []], hostile):
        line = _snapshot_line(html, compact=compact)
        ((kept, event),) = trace_format.events([line])
        assert kept == line  # the whole line stays for the password scan
        assert "html" not in event["snapshot"] and event == _without_html(orjson.loads(line))
        assert event["snapshot"]["frameUrl"] == "https://shop.test/cart" and event["snapshot"]["isMainFrame"] is True
    line = _snapshot_line(hostile, compact=compact, viewport=False)  # laid out otherwise: parsed whole
    ((_, event),) = trace_format.events([line])
    assert event == orjson.loads(line)


def test_real_traces_snapshots_read_the_same_without_their_dom() -> None:
    import zipfile

    lines = []
    for path in sorted(REALLOGS.glob("pw_*.zip")) if REALLOGS.is_dir() else []:
        with zipfile.ZipFile(path) as archive:
            lines += [
                line
                for name in archive.namelist()
                if name.endswith(".trace")
                for line in archive.read(name).splitlines()
                if b'"frame-snapshot"' in line[:40]
            ]
    for line in lines:
        ((_, event),) = trace_format.events([line])
        assert "html" not in event["snapshot"] and event == _without_html(orjson.loads(line))
