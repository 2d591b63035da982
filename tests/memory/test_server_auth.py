"""Server mode with credentials: a real Chroma server behind a real HTTP gate that demands them (the gate plays the
auth layer a team puts in front of a shared server), reached with a token or with basic auth from the URL. Credentials
are sent as Chroma's client auth sends them, and never appear in locations, stats or errors."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner
from webcoach.cli import app
from webcoach.condenser.rules import condense_rules
from webcoach.condenser.trajectory import Step, Trajectory
from webcoach.errors import StoreError
from webcoach.memory.store import EpisodeStore

TOKEN = "team-a-Token-5ecret"
USER, PASSWORD = "team-a", "Basic-5ecret-pw"


@pytest.fixture
def gated(chroma_server: tuple[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """(URL of a gate in front of the server, the Authorization headers it saw). It answers 401 without credentials."""
    upstream = chroma_server[0]
    seen: list[str] = []
    allowed = {f"Bearer {TOKEN}", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}

    class Gate(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            auth = self.headers.get("Authorization", "")
            seen.append(auth)
            if auth not in allowed:
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"error":"Unauthorized","message":"credentials required"}')
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization", "content-length")}
            reply = httpx.request(self.command, upstream + self.path, content=body, headers=headers, timeout=30)
            self.send_response(reply.status_code)
            for key, value in reply.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply.content)))
            self.end_headers()
            self.wfile.write(reply.content)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gate)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _episode() -> Any:
    traj = Trajectory(
        source_kind="browser-use-history",
        steps=(Step(index=0, action="goto", url="about:blank", target="https://books.example.com/"),),
        claimed_success=True,
    )
    return condense_rules(traj, "Find a book")


def test_token_auth_from_the_environment(gated: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, seen = gated
    monkeypatch.setenv("WEBCOACH_CHROMA_TOKEN", TOKEN)
    with EpisodeStore(url=url, namespace="team-a", embedder="hashing") as store:
        store.add(_episode())
        assert store.count() == 1
        assert TOKEN not in repr(store) and TOKEN not in str(store.stats())
    assert seen and all(h == f"Bearer {TOKEN}" for h in seen)


def test_basic_auth_from_url_credentials_never_printed(gated: tuple[str, list[str]], tmp_path: Any) -> None:
    url, seen = gated
    with_credentials = url.replace("http://", f"http://{USER}:{PASSWORD}@")
    with EpisodeStore(url=with_credentials, namespace="team-a", embedder="hashing") as store:
        store.add(_episode())
        assert store.location == url and PASSWORD not in str(store.stats())
    assert seen and all(h.startswith("Basic ") for h in seen)
    stats = CliRunner().invoke(app, ["memory", "stats", "--chroma-url", with_credentials, "-n", "team-a"])
    assert stats.exit_code == 0, stats.output
    assert PASSWORD not in stats.output and url.removeprefix("http://") in stats.output


def test_without_credentials_the_gate_refuses_and_the_error_says_so_without_secrets(
    gated: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = gated
    with pytest.raises(StoreError) as refused:
        EpisodeStore(url=url, namespace="team-a", embedder="hashing")
    assert url in str(refused.value)
    wrong = url.replace("http://", f"http://{USER}:wrong-{PASSWORD}@")
    result = CliRunner().invoke(app, ["memory", "stats", "--chroma-url", wrong])
    assert result.exit_code == 1 and PASSWORD not in result.output and "wrong-" not in result.output
