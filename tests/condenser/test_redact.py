from __future__ import annotations

from webcoach.condenser.redact import MASK, Redactor, leaks


def test_known_secret_is_masked_in_every_encoding_a_browser_produces() -> None:
    r = Redactor(["p@ss word&1"])
    for text in ("typed p@ss word&1 here", "q=p%40ss%20word%261", "q=p%40ss+word%261", '"p@ss word&amp;1"'):
        assert "p@ss" not in (r.text(text) or "") and "p%40ss" not in (r.text(text) or ""), text


def test_credential_shapes_are_masked_without_being_told() -> None:
    r = Redactor()
    samples = [
        "key sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
        "aws AKIAABCDEFGHIJKLMNOP",
        "gh ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "Authorization: Bearer abcdefghijklmnop.qrstu",
        "mail jane.doe@example.org please",
        "card 4111 1111 1111 1111 ok",
        "password=hunter2 and token: abc123",
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLXZhbHVl",
    ]
    for sample in samples:
        out = r.text(sample) or ""
        assert MASK in out, sample
    assert "hunter2" not in (r.text("password=hunter2") or "")
    assert "4111" not in (r.text("card 4111 1111 1111 1111") or "")


def test_ordinary_text_and_numbers_survive() -> None:
    r = Redactor()
    text = "Dune costs $9.99; order 1234567890 shipped on 2026-11-24 to page 3"
    assert r.text(text) == text  # not a Luhn-valid card, no credential shape


def test_urls_lose_credentials_and_sensitive_query_values_but_keep_the_rest() -> None:
    r = Redactor()
    url = r.url("https://bob:s3cr3t@shop.example.com/account.html?email=a%40b.co&password=pw123&page=2#token=xyz")
    assert url is not None
    assert "bob" not in url and "s3cr3t" not in url and "pw123" not in url and "xyz" not in url and "a%40b.co" not in url
    assert url.startswith("https://") and "shop.example.com/account.html" in url and "page=2" in url


def test_nested_data_is_scrubbed_by_key_and_by_value() -> None:
    r = Redactor(["Hunter2-Secret!"])
    data = r.data({"password": "whatever", "note": "I typed Hunter2-Secret! there", "items": [{"api_key": "zzz"}]})
    assert leaks(repr(data), ["whatever", "Hunter2-Secret!", "zzz"]) == []


def test_a_secret_learnt_later_is_masked_in_strings_scrubbed_before() -> None:
    # The Redactor remembers what it made of each string; a secret learnt afterwards must not be served from that.
    r = Redactor()
    text, url = "typed Swordfish-7 here", "https://shop.example/search?q=Swordfish-7"
    assert r.text(text) == text and r.url(url) == url
    r.add_secret("Swordfish-7")
    assert r.text(text) == f"typed {MASK} here"
    assert "Swordfish" not in (r.url(url) or "")


def test_secret_pairs_are_masked_whatever_the_case_of_their_key() -> None:
    # `text` runs the pair pattern only when a key word is found: found the same case-blind way the pattern finds it
    # (re's own folding matches a dotless i or a long s too; a `.lower()` check would miss those).
    r = Redactor()
    for sample in (
        "PassWord=hunter2",
        "AUTHORIZATION: hunter2",
        "author\u0131zation: hunter2",
        "pa\u017fswd=hunter2",
        '"Api_Key": "hunter2"',
    ):
        out = r.text(sample) or ""
        assert "hunter2" not in out and MASK in out, sample
