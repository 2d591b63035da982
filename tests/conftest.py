"""Shared fixtures. Everything is real (Chroma on a temp dir, Debian chromium, local pages) except LLMs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from webcoach.hooks.browser_session import offline_env

# browser-use reads these at import time: keep it offline, quiet and out of the host's logging.
for _key, _value in offline_env().items():
    os.environ.setdefault(_key, _value)
os.environ.pop("ANTHROPIC_API_KEY", None)
os.environ.pop("WEBCOACH_CHROMA_URL", None)

from webcoach import llm  # noqa: E402
from webcoach.tasks.site import SITES_DIR, serve  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own WEBCOACH_HOME and may not reach a real LLM."""
    monkeypatch.setenv("WEBCOACH_HOME", str(tmp_path / "webcoach-home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for key in ("WEBCOACH_NAMESPACE", "WEBCOACH_EMBEDDER", "WEBCOACH_EMBED_MODEL_DIR", "WEBCOACH_EMBED_MODEL_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("WEBCOACH_EMBED_DOWNLOAD", "0")  # no test reaches the internet; download tests turn it back on
    monkeypatch.setattr(llm, "ALLOW_MODEL_REQUESTS", False)
    yield


@pytest.fixture
def offline_browser_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests that run a real browser-use Agent: its config, agent and download folders go under tmp_path."""
    import tempfile

    for key, value in offline_env(tmp_path / "browser-use-config").items():
        monkeypatch.setenv(key, value)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))


@pytest.fixture(scope="session")
def site() -> Iterator[str]:
    """Base URL of the bundled local sites (tasks/sites/) served on 127.0.0.1; the shop is at {site}/shop/."""
    with serve(SITES_DIR) as base:
        yield base


@pytest.fixture(scope="session")
def chromium() -> str:
    if CHROMIUM is None:
        pytest.fail("Debian chromium is required for browser tests: apt-get install -y chromium")
    return CHROMIUM


# Planted by the `shop_trace` recording; tests assert that none of them survives condensing or storing.
SHOP_TRACE_SECRETS = ("Hunter2-Secret!", "jane.doe@example.org", "sk-ant-api03-FAKEFAKEFAKEFAKEFAKE1234")


@pytest.fixture(scope="session")
def _shop_recording(site: str, chromium: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from contextlib import suppress

    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
    from webcoach.hooks.playwright import record_trace_sync

    out = tmp_path_factory.mktemp("shop-recording")
    trace, har = out / "trace.zip", out / "run.har"
    shop = f"{site}/shop"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = browser.new_context(record_har_path=str(har))
            with record_trace_sync(context, trace):
                page = context.new_page()
                page.goto(f"{shop}/index.html")
                page.fill("#q", SHOP_TRACE_SECRETS[2])
                page.press("#q", "Enter")
                page.wait_for_url("**/search.html*")
                with suppress(PlaywrightError):  # the failing click is part of the recording
                    page.click("#add-to-cart", timeout=300)
                page.goto(f"{shop}/deals.html")
                page.click("text=Last week's deal")
                page.go_back()
                page.goto(f"{shop}/login.html")
                page.fill("#email", SHOP_TRACE_SECRETS[1])
                page.locator("#password").press_sequentially(SHOP_TRACE_SECRETS[0])
                page.click("#signin")
                page.wait_for_url("**/account.html*")
            context.close()  # writes the HAR
        finally:
            browser.close()
    return trace, har


@pytest.fixture(scope="session")
def shop_trace(_shop_recording: tuple[Path, Path]) -> Path:
    """A real Playwright trace.zip of one run on the local shop (recorded once per session; do not modify it).

    Steps: goto index.html; fill the search box #q with the API-key-looking "sk-ant-api03-FAKEFAKEFAKEFAKEFAKE1234";
    press Enter (-> search.html?q=<that key>); click the missing "#add-to-cart" (fails: 300 ms timeout); goto deals.html
    (throws "ReferenceError: loadDeals is not defined"); click "Last week's deal" (expired-deal.html -> 404); go back;
    goto login.html; fill #email with "jane.doe@example.org"; type "Hunter2-Secret!" into the password field #password;
    click #signin (-> account.html?email=...&password=Hunter2-Secret%21). The three planted values are
    SHOP_TRACE_SECRETS: none of them may survive parsing, condensing or storing.
    """
    return _shop_recording[0]


@pytest.fixture(scope="session")
def shop_har(_shop_recording: tuple[Path, Path]) -> Path:
    """The HAR (record_har_path) of the same run as `shop_trace`, with the same planted secrets."""
    return _shop_recording[1]


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A real `chroma run` server on a free port with its data under tmp_path: (url, process). Stopped afterwards."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    log = (tmp_path / "chroma-server.log").open("w")
    chroma = Path(sys.executable).with_name("chroma")
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chroma server did not start: {(tmp_path / 'chroma-server.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield url, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


class _FakeModelServer:
    """A real HTTP server on 127.0.0.1 standing in for a model API (only the LLM is ever replaced). Every request body
    is kept parsed in `requests` and as sent in `raw` (for leak checks); subclasses say what each POST gets back."""

    def __init__(self, answer: Any, base_path: str = "") -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.raw: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                body = json.loads(raw)
                fake.raw.append(raw)
                fake.requests.append(body)
                status, reply = fake.respond(self.path.split("?")[0], body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{base_path}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def respond(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeOpenAI(_FakeModelServer):
    """OpenAI's /v1/chat/completions; `answer(request) -> text` says what it replies. Stands in for vLLM / SGLang /
    Ollama / OpenAI."""

    def __init__(self, answer: Any) -> None:
        super().__init__(answer, "/v1")

    def respond(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not path.endswith("/chat/completions"):
            return 404, {}
        text = self.answer(body)
        return 200, {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
        }


def _started(kind: type[_FakeModelServer]) -> Iterator[Any]:
    """make(answer) -> a running `kind` server; all are stopped after the test."""
    made: list[_FakeModelServer] = []

    def make(answer: Any) -> _FakeModelServer:
        made.append(kind(answer))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture
def fake_openai() -> Iterator[Any]:
    """make(answer) -> a running FakeOpenAI; all are stopped after the test."""
    yield from _started(FakeOpenAI)


class FakeAnthropic(_FakeModelServer):
    """Anthropic's Messages API (POST /v1/messages), reached through ANTHROPIC_BASE_URL=`url` by the real anthropic
    SDK (the coach's client and browser-use's ChatAnthropic alike). Callers always force a tool (`tool_choice`), so
    `answer(request) -> dict` gives that tool's input and the reply is one tool_use block."""

    def respond(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not path.endswith("/v1/messages"):
            return 404, {"type": "error", "error": {"type": "not_found_error", "message": path}}
        try:
            # The forced tool's name: the coach's is "answer", browser-use's is its output model's ("AgentOutput").
            tool = (body.get("tool_choice") or {}).get("name") or body["tools"][0]["name"]
            answer = self.answer(body)
        except Exception as exc:  # a broken script: a 400, which the SDK does not retry, with the reason
            return 400, {"type": "error", "error": {"type": "invalid_request_error", "message": repr(exc)}}
        n = len(self.requests)
        return 200, {
            "id": f"msg_test_{n}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": [{"type": "tool_use", "id": f"toolu_test_{n}", "name": tool, "input": answer}],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 120, "output_tokens": 30},
        }


@pytest.fixture
def fake_anthropic() -> Iterator[Any]:
    """make(answer) -> a running FakeAnthropic; all are stopped after the test."""
    yield from _started(FakeAnthropic)


@contextmanager
def _held_elsewhere(path: Path | None = None, embedder: str | None = None) -> Iterator[int]:
    """Another process holds the embedded store at `path` (None: the one under WEBCOACH_HOME) until the block ends;
    yields its pid."""
    args = ", ".join([*([repr(str(path))] if path is not None else []), *([f"embedder={embedder!r}"] if embedder else [])])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys; from webcoach.memory.store import EpisodeStore; s = EpisodeStore({args}); "
            "print('ready', flush=True); sys.stdin.readline(); s.close()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield holder.pid
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0


@pytest.fixture
def held_elsewhere() -> Callable[..., AbstractContextManager[int]]:
    """`with held_elsewhere(path) as pid:` another process has the embedded store open (its lock held) meanwhile."""
    return _held_elsewhere
