"""Cut what a log stores but webcoach never reads out of its raw JSON, before it is parsed.

Parsing builds a Python string for every value, and most of a browser-use history's bytes are screenshots no
condenser reads (base64, one per step: 617 of 630 KB in a shared real log; a 3.6 MB one parses in 0.16 ms instead of
4.3 once they are cut). Emptying them in the bytes first costs a few searches.

Only string values are cut, found as a JSON parser would find them: a key is a quoted name right after `{`, `,` or
whitespace (inside a JSON string every quote is escaped, so that spelling is always a real key), and a string ends at
the first quote not escaped by an odd run of backslashes. A file the cut version cannot parse is parsed whole by the
caller, so its error says where the file itself is broken.

A HAR's response bodies were tried the same way and left out: CSS, HTML and JSON bodies are full of escaped quotes,
and finding their ends one quote at a time cost more than parsing them (a Safari HAR's 250 KB stylesheet).
"""

from __future__ import annotations

import re

_COLON_STRING = re.compile(rb'[ \t\r\n]*:[ \t\r\n]*"')
_BEFORE_KEY = b"{, \t\r\n"


def without_screenshots(raw: bytes) -> bytes:
    """A browser-use history's JSON with every screenshot string emptied; everything else byte for byte."""
    key = b'"screenshot"'
    kept: list[bytes] = []
    pos = look = 0
    while (at := raw.find(key, look)) != -1:
        look = at + len(key)
        value = _COLON_STRING.match(raw, look) if at and raw[at - 1] in _BEFORE_KEY else None
        if value is None:
            continue
        end = _string_end(raw, value.end())
        if end < 0:
            break  # cut off inside the string: the parser will say where
        kept.append(raw[pos : value.end()])
        pos = look = end  # the search goes on after the string, not through it
    if not kept:
        return raw
    kept.append(raw[pos:])
    return b"".join(kept)


def _string_end(raw: bytes, start: int) -> int:
    """The offset of the quote that closes the string whose text starts at `start`, or -1 if it is cut off."""
    end = start
    while (end := raw.find(b'"', end)) != -1:
        backslashes = 0
        while raw[end - 1 - backslashes] == 0x5C:  # stops at the opening quote at the latest
            backslashes += 1
        if backslashes % 2 == 0:
            return end
        end += 1
    return -1
