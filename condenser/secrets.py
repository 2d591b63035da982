"""What a secret looks like when nothing told us it was one: token formats, high-entropy strings, secret-bearing URL
parts and secret-looking form fields. redact.py applies these; the parsers ask `secret_field` about form fields.

Token formats come from Yelp's detect-secrets plugins (its maintained regex list, compiled once into one pattern and
run without its scanning machinery, which costs far more per string) plus the shapes it lacks (fine-grained GitHub
tokens, Hugging Face, bare npm, Google OAuth access tokens). High-entropy strings are found by a cheap shape filter
followed by a Shannon-entropy check.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import cache

# Shapes detect-secrets 1.5 does not cover (or covers only inside config-file syntax).
_EXTRA_TOKENS = (
    r"\bgithub_pat_[A-Za-z0-9_]{22,255}",
    r"\bgh[pousr]_[A-Za-z0-9]{30,}",
    r"\bglpat-[A-Za-z0-9_\-]{20,50}",
    r"\bhf_[A-Za-z0-9]{30,}",
    r"\bnpm_[A-Za-z0-9]{36}\b",
    r"\bya29\.[0-9A-Za-z_\-]{20,}",
    r"\b(?:sk|pk|rk)_(?:live|test)_[0-9A-Za-z]{16,}",
    r"\b(?:sk|pk|rk)-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_\-]{16,}",
    r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",
    r"\bAIza[0-9A-Za-z_\-]{35}\b",
)
# The detect-secrets plugins whose patterns stand on their own (the keyword and entropy plugins need file context).
_PLUGINS = (
    "artifactory.ArtifactoryDetector",
    "aws.AWSKeyDetector",
    "azure_storage_key.AzureStorageKeyDetector",
    "discord.DiscordBotTokenDetector",
    "github_token.GitHubTokenDetector",
    "gitlab_token.GitLabTokenDetector",
    "jwt.JwtTokenDetector",
    "mailchimp.MailchimpDetector",
    "openai.OpenAIDetector",
    "private_key.PrivateKeyDetector",
    "pypi_token.PypiTokenDetector",
    "sendgrid.SendGridDetector",
    "slack.SlackDetector",
    "square_oauth.SquareOAuthDetector",
    "stripe.StripeDetector",
    "telegram_token.TelegramBotTokenDetector",
    "twilio.TwilioKeyDetector",
)


@cache
def token_formats() -> tuple[tuple[str, str | None], ...]:
    """Every known token format's regex, with a literal that every match of it contains (None if it has none), in
    the order they are tried (built on first use: importing stays cheap)."""
    import importlib

    parts = list(_EXTRA_TOKENS)
    for spec in _PLUGINS:
        module, name = spec.rsplit(".", 1)
        detector = getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), name)
        for rx in detector.denylist:
            # Capture groups inside the alternation would only cost time; the whole match is what gets masked.
            parts.append(re.sub(r"\((?!\?)", "(?:", rx.pattern))
    return tuple((part, required_literal(part)) for part in parts)


@cache
def _compiled_formats() -> tuple[tuple[re.Pattern[str], str | None], ...]:
    return tuple((re.compile(part), literal) for part, literal in token_formats())


def sub_tokens(text: str, mask: str) -> str:
    """What one alternation of every token format (in order) would make of `text` with `.sub(mask, text)`, trying only
    the formats whose required literal is in `text`.

    One long alternation tried at every position was most of redaction's cost (~70 us for a 200-character error
    message), and most formats have a literal ("ghp_", "AKIA", "xox") that most text lacks: a format whose literal is
    absent cannot match, so leaving it out changes nothing. The alternation's rule is kept: the leftmost match wins,
    the first format in order at equal starts, and the scan goes on after it."""
    formats = [pattern for pattern, literal in _compiled_formats() if literal is None or literal in text]
    found = [pattern.search(text) for pattern in formats]
    out: list[str] = []
    pos = 0
    while True:
        best: re.Match[str] | None = None
        for i, match in enumerate(found):
            if match is not None and match.start() < pos:  # it overlaps the last masked token: look again after it
                match = found[i] = formats[i].search(text, pos)
            if match is not None and (best is None or match.start() < best.start()):
                best = match
        if best is None:
            break
        out.append(text[pos : best.start()])
        out.append(mask)
        pos = max(best.end(), best.start() + 1)  # no format matches empty text; this only guards the loop
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def required_literal(pattern: str) -> str | None:
    """The longest run of literal characters that every match of `pattern` contains, read from its parse tree: only
    characters in the pattern's own top-level sequence count (not inside a branch, an optional part or a repeat),
    and a pattern with flags (a case-blind literal is not one string) has none."""
    from re import _parser  # type: ignore[attr-defined]  # the stdlib's own regex parser, as re.compile uses it

    try:
        parsed = _parser.parse(pattern)
    except re.error:
        return None
    if parsed.state.flags & ~(re.UNICODE | re.VERBOSE):
        return None
    best, run = "", ""
    for op, arg in parsed:
        if op is _parser.LITERAL:
            run += chr(arg)
            best = max(best, run, key=len)
        else:
            run = ""
    return best or None


# Candidates for the entropy check: long runs of token characters with letters and digits mixed.
# (Plain runs, checked in Python: lookaheads here would rescan the rest of the run at every position.)
_CANDIDATE = re.compile(r"[A-Za-z0-9+/_\-]{24,}={0,2}")
# Any token format needs a run of 16+ token characters; most strings (labels, selectors, short URLs) have none, and
# skipping the long alternation for them is most of its cost.
_LONG_RUN = re.compile(r"[A-Za-z0-9_\-]{16}")
MIN_ENTROPY = 4.0  # bits per character; hex digests top out at 4.0, random base64/base62 of this length sits near 4.5-5


def entropy(text: str) -> float:
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _high_entropy(match: re.Match[str]) -> bool:
    token = match.group(0)
    if not (any(c.isdigit() for c in token) and any(c.isalpha() for c in token)):
        return False
    if "/" in token and token.count("/") > 2:  # a URL path, not a key
        return False
    if not (any(c.isupper() for c in token) and any(c.islower() for c in token)):
        return False  # hex digests, ids and SHOUTING_CONSTANTS are not secrets
    parts = [p for p in re.split(r"[-_/+.]", token) if p]
    if len(parts) >= 3 and all(_word_like(p) for p in parts):
        return False  # a slug of words ("ignore-other-advice-sign-in-2024"), not a key
    return entropy(token) > MIN_ENTROPY


def _word_like(part: str) -> bool:
    return part.isdigit() or (part.isalpha() and (part.islower() or part.isupper() or part.istitle()))


def mask_tokens(text: str, mask: str) -> str:
    """`text` with every known token format and every high-entropy run replaced by `mask`."""
    if len(text) < 16 or not _LONG_RUN.search(text):
        return text
    return mask_high_entropy(sub_tokens(text, mask), mask)


def mask_high_entropy(text: str, mask: str) -> str:
    if len(text) < 24:
        return text
    return _CANDIDATE.sub(lambda m: mask if _high_entropy(m) else m.group(0), text)


# Form fields whose value is secret whatever it looks like: a type/name/id/label/placeholder/accessible name saying so.
SECRET_FIELD = re.compile(
    r"pass(?:word|wd|phrase|code)?|pwd|secret|token|one[-_ ]?time|cvv|cvc|card[-_ ]?(?:number|no)|cc-(?:number|csc)|"
    r"social[-_ ]security|(?:^|[^a-z])(?:otp|pin|ssn|key|code|2fa|mfa|totp)(?:$|[^a-z])",
    re.IGNORECASE,
)


def secret_field(*descriptions: object) -> bool:
    """Whether any description of a form field (type, name, id, label, placeholder, accessible name) marks it secret."""
    return any(isinstance(d, str) and d and SECRET_FIELD.search(d) is not None for d in descriptions)


# URL query keys whose values are secret: OAuth codes, signatures (Azure SAS `sig`, AWS `X-Amz-Signature`), keys.
SECRET_PARAM = re.compile(
    r"^(?:code|sig|signature|state|nonce|key|hash|ticket|otp|pin|sas|se?token)$|^x-amz-(?:signature|credential|security-token)$|"
    r"^x-goog-(?:signature|credential)$|(?:^|[-_.])(?:sig|signature|token|key|code|secret|otp)$",
    re.IGNORECASE,
)
# A path segment right after one of these names a token (password reset, e-mail verification, magic links, invites).
TOKEN_PATH_MARKER = re.compile(
    r"^(?:reset|reset[-_]password|password[-_]reset|verify|verification|confirm|activate|activation|magic|magic[-_]link|"
    r"invite|invitation|token|auth|unsubscribe|sso|login)$",
    re.IGNORECASE,
)
_MIXED_SEGMENT = re.compile(r"^(?=.*\d)(?=.*[a-z])(?=.*[A-Z])[A-Za-z0-9_\-.~%]{16,}$")
_HEX_SEGMENT = re.compile(r"^[0-9a-fA-F]{32,}$")


def secret_path_segment(segment: str, previous: str) -> bool:
    """A path segment that carries a token: after a reset/verify/token marker, or long and random-looking on its own."""
    if not segment:
        return False
    if TOKEN_PATH_MARKER.match(previous) and len(segment) >= 8:
        return True
    if _HEX_SEGMENT.match(segment):
        return True
    return bool(_MIXED_SEGMENT.match(segment)) and entropy(segment) > 3.7 and not segment.endswith((".html", ".htm"))
