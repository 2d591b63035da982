"""Redaction applied to every string before it is stored or sent to an LLM.

Two kinds of secrets are removed: values the log tells us were secret (typed into a password field, a browser-use
`sensitive_data` value) wherever they reappear, in any of the encodings a browser gives them; and anything that looks
like a credential on its own (API keys, bearer tokens, JWTs, card numbers, e-mail addresses, `password=` pairs,
credentials in URLs).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlunsplit

from webcoach.condenser.secrets import SECRET_PARAM, mask_tokens, secret_path_segment
from webcoach.condenser.urls import split_url

MASK = "[REDACTED]"

# Query/form/JSON keys whose values are secret whatever they look like.
SENSITIVE_KEY = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|api[-_]?key|apikey|access[-_]?key|auth(orization)?|session(id)?|"
    r"cookie|credential|private[-_]?key|client[-_]?secret|otp|pin|cvv|cvc|ssn|card[-_]?(number|no)?|cc[-_]?num)",
    re.IGNORECASE,
)

# Each pattern with a literal that every match of it contains (None: no such literal): a string without it is not
# searched. Most strings have none of them, and a search costs far more than `in`.
_PATTERNS: tuple[tuple[str | None, re.Pattern[str]], ...] = (
    ("-----BEGIN ", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL)),
    ("eyJ", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
    (None, re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{12,}=*")),
    ("@", re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")),
)
# key=value / key: value / "key": "value" pairs with a sensitive key name. The key is a whole word (a match that
# starts inside a word or ends before its end cannot be followed by the separator), so it starts at a quote or where a
# word starts, is first checked to be followed by a separator (one cheap scan of the word), and only then searched for a
# keyword. Same matches as the plain `["']?[\w\-]*(?:KEYWORD)[\w\-]*["']?` form, which backtracked through every word
# from every position in it (quadratic: 60 s on the shared real logs' long page texts, under 1 s now).
_PAIR_KEYWORDS = r"pass(?:word|wd)?|pwd|secret|token|api[-_]?key|apikey|authorization|session(?:id)?|cvv|cvc|otp"
_PAIR = re.compile(
    rf"""(?P<key>(?:["']|(?<![\w\-]))(?=[\w\-]*+["']?\s*[:=])[\w\-]*?(?:{_PAIR_KEYWORDS})[\w\-]*+["']?)"""
    r"""(?P<sep>\s*[:=]\s*)(?P<q>["']?)(?P<val>[^\s"'&,;}]{1,})""",
    re.IGNORECASE,
)
# Every match of _PAIR holds one of these and a `:` or `=`: most strings have neither, and one linear scan says so.
_PAIR_KEYWORD = re.compile(_PAIR_KEYWORDS, re.IGNORECASE)
# user:password@ in a URL written into free text (an error message, a log line): dropped, as in `Redactor.url`.
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s@:?#]+:[^/\s@?#]+@")
# 13-19 digits, spaced or dashed, not part of a longer number. It starts with a digit and checks what precedes it
# after that digit, so the engine skips straight to digits instead of trying a look-behind at every character.
_CARD = re.compile(r"\d(?<![\d.]\d)(?:[ \-]?\d){12,18}(?![\d.])")
# A log repeats its URLs, element names and attributes step after step: each Redactor remembers what it made of the
# strings it saw (up to this many, each this short at most: long page text seldom repeats).
_MEMO_SIZE = 4096
_MEMO_CHARS = 1000


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _mask_card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return MASK if 13 <= len(digits) <= 19 and _luhn_ok(digits) else m.group(0)


class Redactor:
    """Holds the known secrets of one log and scrubs strings, URLs and nested data."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._ordered: list[str] = []  # longest first, so a secret that contains another is masked whole
        self._texts: dict[str, str] = {}
        self._urls: dict[str, str] = {}
        for s in secrets:
            self.add_secret(s)

    def add_secret(self, value: str | None) -> None:
        """Remember a value that must never appear anywhere (e.g. text typed into a password field)."""
        if not value or len(value) < 3:  # masking 1-2 characters everywhere would shred ordinary text
            return
        forms = {v for v in (value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1], html.escape(value)) if v}
        if not forms <= self._secrets:
            self._secrets |= forms
            self._ordered = sorted(self._secrets, key=len, reverse=True)
            self._texts.clear()  # made before this secret was known: they may hold it
            self._urls.clear()

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def text(self, value: str | None) -> str | None:
        if value is None:
            return None
        done = self._texts.get(value)
        if done is None:
            done = self._text(value)
            _remember(self._texts, value, done)
        return done

    def _text(self, value: str) -> str:
        out = _URL_CREDENTIALS.sub("", value) if "://" in value else value
        for secret in self._ordered:
            if secret in out:
                out = out.replace(secret, MASK)
        for needed, pattern in _PATTERNS:
            if needed is None or needed in out:
                out = pattern.sub(MASK, out)
        out = mask_tokens(out, MASK)
        if ("=" in out or ":" in out) and _PAIR_KEYWORD.search(out):
            out = _PAIR.sub(lambda m: f"{m.group('key')}{m.group('sep')}{m.group('q')}{MASK}", out)
        out = _CARD.sub(_mask_card, out)
        return out

    def url(self, value: str | None) -> str | None:
        """Drop credentials in the authority and mask sensitive query/fragment parameters, then scrub the rest."""
        if value is None:
            return None
        done = self._urls.get(value)
        if done is None:
            done = self._url(value)
            _remember(self._urls, value, done)
        return done

    def _url(self, value: str) -> str:
        parts = split_url(value)
        if parts is None:
            return self._text(value)
        netloc = parts.netloc
        if "@" in netloc:
            # Credentials are dropped, not replaced: "[REDACTED]@host" is read back by urlsplit as an IPv6 literal.
            netloc = netloc.rsplit("@", 1)[1]
        query = self._query(parts.query)
        fragment = self._query(parts.fragment) if "=" in parts.fragment else parts.fragment
        # The host is never scrubbed as text: a mask there would make the URL unparseable (and hosts are not secrets).
        return urlunsplit((parts.scheme, netloc, self.text(_path(parts.path)) or "", query, self.text(fragment) or ""))

    def _query(self, query: str) -> str:
        if not query:
            return query
        pairs = parse_qsl(query, keep_blank_values=True)
        if not pairs:
            return query
        # Values are scrubbed decoded: an e-mail or key is only recognisable before percent-encoding.
        return urlencode(
            [(k, MASK if SENSITIVE_KEY.search(k) or SECRET_PARAM.search(k) else (self.text(v) or "")) for k, v in pairs],
            safe="[]",
        )

    def data(self, value: object) -> object:
        """Scrub nested JSON-like data: strings are scrubbed, values under sensitive keys are masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                k: (MASK if isinstance(k, str) and SENSITIVE_KEY.search(k) and isinstance(v, str) and v else self.data(v))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def _remember(memo: dict[str, str], key: str, value: str) -> None:
    if len(key) <= _MEMO_CHARS:
        if len(memo) >= _MEMO_SIZE:
            memo.clear()  # a long-lived Redactor (a whole run's history) must not grow without bound
        memo[key] = value


def _path(path: str) -> str:
    """A URL path with token-bearing segments (password-reset links, magic links, random ids) masked."""
    if len(path) < 9:
        return path
    segments = path.split("/")
    out = [MASK if secret_path_segment(seg, segments[i - 1] if i else "") else seg for i, seg in enumerate(segments)]
    return "/".join(out)


def leaks(text: str, secrets: Iterable[str]) -> list[str]:
    """The secrets that still occur in `text` (used by tests and by the store's last-line check)."""
    return [s for s in secrets if s and s in text]
