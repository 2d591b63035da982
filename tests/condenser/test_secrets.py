"""No typed secret ever reaches the store on disk or an LLM prompt: planted in every place a real Playwright trace,
HAR and browser-use history keep them, then searched for in the Chroma directory's bytes and in every prompt."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, quote_plus

from webcoach.condenser.condense import condense
from webcoach.llm import FunctionModel
from webcoach.memory.store import EpisodeStore

DATA = Path(__file__).parents[1] / "data"
PLANTED = ("Hunter2-Secret!", "jane.doe@example.org", "sk-ant-api03-FAKEFAKEFAKEFAKEFAKE1234")


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_the_recordings_really_contain_the_secrets(shop_trace: Path, shop_har: Path) -> None:
    # Guards the test below: if the planted values were not in the raw logs, "not found later" would prove nothing.
    import zipfile

    with zipfile.ZipFile(shop_trace) as zf:
        raw = b"".join(zf.read(n) for n in zf.namelist())
    for secret in PLANTED:
        assert any(form.encode() in raw for form in _forms(secret)), secret
    assert any(form.encode() in shop_har.read_bytes() for form in _forms(PLANTED[0]))
    assert "Hunter2-Secret" in (DATA / "browser_use_login.json").read_text()


def test_no_secret_reaches_the_chroma_directory_or_an_export(shop_trace: Path, shop_har: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with EpisodeStore(home=home) as store:
        for source in (shop_trace, shop_har, DATA / "browser_use_login.json"):
            store.add(condense(source, task="Sign in to Acme Books and search the shop", sensitive_data={"shop_pw": PLANTED[0]}))
        assert store.count() == 3
        store.export(home / "export.jsonl")
    blob = _all_bytes(home)
    assert len(blob) > 10_000  # the store really wrote something
    for secret in PLANTED:
        for form in _forms(secret):
            assert form.encode() not in blob, f"{form!r} reached the store"


def test_no_secret_reaches_the_llm_prompt(shop_trace: Path, shop_har: Path) -> None:
    model = FunctionModel(lambda system, prompt: "not json, so the condenser falls back")
    for source in (shop_trace, shop_har, DATA / "browser_use_login.json"):
        condense(source, task="Sign in", llm=model)
    assert len(model.calls) == 3
    sent = "\n".join(system + prompt for system, prompt in model.calls)
    assert "login.html" in sent  # the prompt does describe the runs
    for secret in PLANTED:
        for form in _forms(secret):
            assert form not in sent, f"{form!r} was sent to the LLM"
