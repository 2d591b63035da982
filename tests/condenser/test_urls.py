"""Placeholder URLs such as `https://[website].com/r` (agents type them) in every kind of real log: the run is still
condensed, stored and searchable; the URL is kept as text with no site."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from webcoach.condenser.condense import condense
from webcoach.condenser.episode import domain_of
from webcoach.condenser.redact import Redactor
from webcoach.condenser.urls import host_of, port_of, short_url, split_url
from webcoach.memory.ingest import ingest_files
from webcoach.memory.store import EpisodeStore

DATA = Path(__file__).parents[1] / "data"
BAD = "https://[website].com/r"
BAD_URLS = (BAD, "http://[::1", "http://host:99999/x", "https://[not-ip]/", "http://[fe80::1%zz]/")


@pytest.mark.parametrize("url", BAD_URLS)
def test_helpers_never_raise(url: str) -> None:
    host_of(url), port_of(url), split_url(url), domain_of(url)
    assert short_url(url)
    assert Redactor().url(url + "?password=hunter2") is not None
    assert "hunter2" not in (Redactor().url(url + "?password=hunter2") or "")


def test_helpers_on_good_urls() -> None:
    assert host_of("https://WWW.Example.com:8443/a?b=1") == "www.example.com"
    assert port_of("https://example.com:8443/a") == 8443 and port_of("http://h:99999/") is None
    assert domain_of("https://www.example.com/a") == "example.com"
    assert short_url("https://example.com/a?b=1") == "example.com/a"


def _history_with_bad_urls(tmp_path: Path) -> Path:
    data = json.loads((DATA / "browser_use_failed_deals.json").read_text())
    for item in data["history"][2:]:
        item["state"]["url"] = BAD
    path = tmp_path / "history.json"
    path.write_text(json.dumps(data))
    return path


def _har_with_bad_urls(shop_har: Path, site: str, tmp_path: Path) -> Path:
    path = tmp_path / "run.har"
    path.write_text(shop_har.read_text().replace(f"{site}/shop/deals.html", BAD))
    return path


def _trace_with_bad_urls(shop_trace: Path, site: str, tmp_path: Path) -> Path:
    path = tmp_path / "trace.zip"
    with zipfile.ZipFile(shop_trace) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            body = src.read(name)
            if name.endswith((".trace", ".network")):
                body = body.replace(f"{site}/shop/deals.html".encode(), BAD.encode())
            dst.writestr(name, body)
    return path


def test_every_log_kind_with_a_placeholder_url_is_condensed(shop_trace: Path, shop_har: Path, site: str, tmp_path: Path) -> None:
    logs = [
        _history_with_bad_urls(tmp_path),
        _har_with_bad_urls(shop_har, site, tmp_path),
        _trace_with_bad_urls(shop_trace, site, tmp_path),
    ]
    for log in logs:
        assert BAD.encode() in (log.read_bytes() if log.suffix != ".zip" else zipfile.ZipFile(log).read("trace.trace"))
        episode = condense(log, task="Find this week's best deal at Acme Books")
        assert episode.step_count > 0

    with EpisodeStore(embedder="hashing") as store:
        results = ingest_files(store, logs, task="Find this week's best deal at Acme Books")
        assert [r.status for r in results] == ["added", "added", "added"], results
        assert store.count() == 3
        assert store.search("best deal at Acme Books", url=BAD, k=3)
