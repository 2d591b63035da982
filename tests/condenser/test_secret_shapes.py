"""Every secret shape the issue lists, planted in a real recording of a local page and in a real browser-use history,
then searched for (raw, URL-encoded, JSON-escaped) in the store's bytes, an export, a run history, `memory show`,
`advise --json` and every LLM prompt."""

from __future__ import annotations

import asyncio
import json
import stat
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.coach.coach import Coach
from webcoach.condenser.condense import condense
from webcoach.condenser.redact import Redactor
from webcoach.hooks.runner import save_history
from webcoach.llm import FunctionModel
from webcoach.memory.store import EpisodeStore
from webcoach.tasks.site import serve

DATA = Path(__file__).parents[1] / "data"
TASK = "Sign in and search the shop"

TYPED = {  # field selector -> value typed into it; every value is a secret by the field's name alone
    "input[name=pwd]": "Pwd-Typed-In-Text-77",
    "#otp": "493027",
    "input[name=code]": "881144",
}
SEARCHED = (  # token formats typed into an ordinary search box
    "sk_live_4eC39HqLyjWDarjtT1zdp7dcXyZ",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV",
    "glpat-abcdefghij1234567890",
    "hf_abcdefghijklmnopqrstuvwxyz0123456789",
    "npm_abcdefghijklmnopqrstuvwxyz0123456789",
    "ya29.a0AfH6SMBx3kq9yZ_Tq8abcdefGH",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
)
IN_URLS = ("OAuthCode-ZZ91xx", "AzureSasSig+q9x7", "amzsig0123456789abcdef", "Rst9TokenQ7xLm2pW8zK4vB", "BasicPw-Secret9")
CONSOLE_TOKEN = "LsTok3nAbCdEfGhIjKlMnOpQrStUv12"
ALL = (*TYPED.values(), *SEARCHED, *IN_URLS, CONSOLE_TOKEN)

PAGE = f"""<!doctype html><meta charset=utf-8><title>Account</title>
<form action="secrets.html"><input id=q name=q placeholder="Search"></form>
<form><input type=text name=pwd id=f1><input id=otp><input name=code><button id=go type=button>Go</button></form>
<script>localStorage.setItem("auth", "{CONSOLE_TOKEN}"); console.error("session " + localStorage.getItem("auth"));</script>"""


def forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


def assert_no_secret(text: str | bytes, where: str) -> None:
    blob = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    for secret in ALL:
        for form in forms(secret):
            assert form not in blob, f"{form!r} reached {where}"


@pytest.fixture(scope="session")
def secrets_trace(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
    from webcoach.hooks.playwright import record_trace_sync

    root = tmp_path_factory.mktemp("secrets-site")
    (root / "secrets.html").write_text(PAGE, encoding="utf-8")
    trace = root / "trace.zip"
    with serve(root) as base, sync_playwright() as p:
        host = base.removeprefix("http://")
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = browser.new_context()
            with record_trace_sync(context, trace):
                page = context.new_page()
                page.goto(f"{base}/secrets.html")
                for selector, value in TYPED.items():
                    page.fill(selector, value)
                for token in SEARCHED:
                    page.fill("#q", token)
                    page.press("#q", "Enter")
                    page.wait_for_url("**/secrets.html?q=*")
                for url in (
                    f"{base}/secrets.html?code={IN_URLS[0]}&state=xyz",
                    f"{base}/secrets.html?sv=2020-08-04&sig={quote(IN_URLS[1], safe='')}",
                    f"{base}/secrets.html?X-Amz-Signature={IN_URLS[2]}&X-Amz-Expires=300",
                    f"{base}/reset-password/{IN_URLS[3]}",
                    f"http://user:{IN_URLS[4]}@{host}/secrets.html",
                ):
                    with suppress(PlaywrightError):
                        page.goto(url)
                page.goto(f"{base}/secrets.html")
            context.close()
        finally:
            browser.close()
    return trace, base  # the server is gone: the tests only name its URLs


def test_the_recording_really_holds_every_secret(secrets_trace: tuple[Path, str]) -> None:
    import zipfile

    with zipfile.ZipFile(secrets_trace[0]) as zf:
        raw = b"".join(zf.read(n) for n in zf.namelist()).decode("utf-8", "replace")
    for secret in ALL:
        assert any(form in raw for form in forms(secret)), secret


def test_no_secret_shape_reaches_store_export_show_advise_or_a_prompt(secrets_trace: tuple[Path, str], tmp_path: Path) -> None:
    trace, base = secrets_trace
    home = tmp_path / "home"
    runner = CliRunner()
    common = ["--home", str(home)]
    ingested = runner.invoke(app, ["ingest", str(trace), "--task", TASK, "--json", *common])
    assert ingested.exit_code == 0, ingested.output
    (result,) = json.loads(ingested.output)
    assert result["status"] == "added"
    export = tmp_path / "out" / "export.jsonl"
    export.parent.mkdir()
    assert runner.invoke(app, ["memory", "export", str(export), *common]).exit_code == 0
    shown = runner.invoke(app, ["memory", "show", result["id"], *common])
    advised = runner.invoke(app, ["advise", TASK, "--url", f"{base}/secrets.html", "--json", *common])
    assert shown.exit_code == 0 and advised.exit_code == 0
    assert "secrets.html" in shown.output and json.loads(advised.output)["advice"] is not None  # they say something
    blob = b"".join(p.read_bytes() for p in (home / "chroma").rglob("*") if p.is_file())
    assert len(blob) > 10_000
    for text, where in ((blob, "the store"), (export.read_bytes(), "the export"), (shown.output, "memory show")):
        assert_no_secret(text, where)
    assert_no_secret(advised.output, "advise --json")

    model = FunctionModel(lambda system, prompt: "not json: the condenser falls back")
    condense(trace, task=TASK, llm=model)
    (call,) = model.calls
    assert_no_secret(call[0] + call[1], "the LLM condenser prompt")

    coach_model = FunctionModel(lambda system, prompt: json.dumps({"intervene": False}))
    with EpisodeStore(home=home) as store:
        asyncio.run(Coach(store, llm=coach_model).advise(TASK, f"{base}/secrets.html"))
    (decider_call,) = coach_model.calls
    assert "secrets.html" in decider_call[1]
    assert_no_secret(decider_call[0] + decider_call[1], "the LLM coach prompt")


def test_store_and_export_are_private_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with EpisodeStore(home=home, embedder="hashing") as store:
        store.add(condense(DATA / "browser_use_login.json", task=TASK))
        store.export(tmp_path / "export.jsonl")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in (home / "chroma").rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert stat.S_IMODE((tmp_path / "export.jsonl").stat().st_mode) == 0o600


def test_export_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "export.jsonl"
    for planted in (target.with_name(target.name + ".partial"), target):
        planted.unlink(missing_ok=True)
        planted.symlink_to(victim)
        with EpisodeStore(tmp_path / "store", embedder="hashing") as store:
            store.add(condense(DATA / "browser_use_login.json", task=TASK))
            assert store.export(target) == 1
        assert victim.read_text() == "keep me" and not target.is_symlink() and target.read_text().count("\n") == 1
        target.unlink()


class _SavedHistory:
    """A browser-use history as `AgentHistoryList.save_to_file` wrote it, read back (save_history needs model_dump)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self.history = data["history"]

    def model_dump(self) -> dict[str, Any]:
        return self._data


def test_a_password_in_a_text_field_named_pwd_stays_out_of_run_histories(tmp_path: Path) -> None:
    # browser-use's real login history, with the password box turned into <input type=text name=pwd> (and an OTP box).
    data = json.loads((DATA / "browser_use_login.json").read_text())
    typed = "Swordfish-Literal-7"
    for item in data["history"]:
        for element in item["state"].get("interacted_element") or []:
            if element and element.get("attributes", {}).get("type") == "password":
                element["attributes"] = {"type": "text", "name": "pwd", "id": "f2"}
                element["ax_name"] = ""
    assert typed in json.dumps(data)
    path = save_history(_SavedHistory(data), TASK, tmp_path / "runs")
    saved = path.read_text()
    assert typed not in saved and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert typed not in json.dumps(condense(data, task=TASK).model_dump(mode="json"))


@pytest.mark.parametrize(
    "url",
    ["http://user:BasicPw-Secret9@example.test:8080/a?b=1", "https://admin:p%40ss-Secret-99@shop.example.com/"],
)
def test_basic_auth_urls_are_masked_and_still_parse(url: str) -> None:
    from urllib.parse import urlsplit

    masked = Redactor().url(url) or ""
    parts = urlsplit(masked)
    assert parts.hostname in ("example.test", "shop.example.com") and "Secret" not in masked and "@" not in masked
    assert "Secret" not in (Redactor().text(f"GET {url} failed: 401") or "")
