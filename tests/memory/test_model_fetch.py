"""First-use download of all-MiniLM-L6-v2, against a real HTTP server on 127.0.0.1 serving a tarball of the real files."""

from __future__ import annotations

import hashlib
import http.server
import logging
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from webcoach.errors import ConfigError
from webcoach.memory import embed
from webcoach.memory.embed import HashingEmbedder, OnnxEmbedder, resolve_embedder
from webcoach.memory.model_fetch import LOCK_NAME, MODEL_SHA256, MODEL_URL, cache_root, download_model
from webcoach.memory.store import EpisodeStore

SHARED_MODEL = Path(__file__).resolve().parents[3] / "shared" / "models" / "all-MiniLM-L6-v2" / "onnx"
needs_model = pytest.mark.skipif(not (SHARED_MODEL / "model.onnx").is_file(), reason=f"no MiniLM files at {SHARED_MODEL}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(url, sha256) of an onnx.tar.gz laid out as Chroma's (onnx/<six files>), built from the shared model files."""
    root = tmp_path_factory.mktemp("served")
    archive = root / "onnx.tar.gz"
    if (SHARED_MODEL / "model.onnx").is_file():
        with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
            tar.add(SHARED_MODEL, arcname="onnx")
    else:
        archive.write_bytes(b"")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **kw)  # noqa: E731
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/onnx.tar.gz", digest
    finally:
        server.shutdown()


@pytest.fixture(autouse=True)
def _fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # an empty Chroma cache
    monkeypatch.setattr(embed, "_fallback_warned", False)
    monkeypatch.setattr(embed, "_download_failed", None)


def test_pinned_url_and_checksum_are_chromas() -> None:
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    assert (MODEL_URL, MODEL_SHA256) == (ONNXMiniLM_L6_V2.MODEL_DOWNLOAD_URL, ONNXMiniLM_L6_V2._MODEL_SHA256)
    # Chroma read HOME when it was imported; the folders under it are the same.
    assert (
        Path(ONNXMiniLM_L6_V2.DOWNLOAD_PATH).parts[-4:]
        == cache_root().parts[-4:]
        == (".cache", "chroma", "onnx_models", "all-MiniLM-L6-v2")
    )


@needs_model
def test_first_use_downloads_into_chromas_cache_then_embeds(
    served: tuple[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    url, sha = served
    monkeypatch.setenv("WEBCOACH_EMBED_DOWNLOAD", "1")
    monkeypatch.setenv("WEBCOACH_EMBED_MODEL_URL", url)
    monkeypatch.setenv("WEBCOACH_EMBED_MODEL_SHA256", sha)
    with caplog.at_level(logging.WARNING, logger="webcoach"):
        embedder = resolve_embedder(None)
    assert isinstance(embedder, OnnxEmbedder)
    assert embedder.model_dir == (cache_root() / "onnx").resolve()
    assert sorted(p.name for p in (cache_root() / "onnx").iterdir()) == sorted(p.name for p in SHARED_MODEL.iterdir())
    assert (cache_root() / "onnx.tar.gz").is_file() and not list(cache_root().glob("*.partial"))
    (line,) = [r.getMessage() for r in caplog.records]
    assert f"from {url} into {cache_root()}" in line and "WEBCOACH_EMBED_DOWNLOAD=0" in line
    # Chroma's own embedder finds the files where webcoach put them and gives the same vectors.
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    monkeypatch.setattr(ONNXMiniLM_L6_V2, "DOWNLOAD_PATH", str(cache_root()))
    theirs = ONNXMiniLM_L6_V2()(["Find a vegetarian lasagna recipe"])[0]
    ours = embedder.embed(["Find a vegetarian lasagna recipe"])[0]
    assert max(abs(a - b) for a, b in zip(theirs, ours, strict=True)) < 1e-4
    with EpisodeStore(Path(str(cache_root())).parent / "store") as store:
        assert store.embedder.name == "all-MiniLM-L6-v2"


def test_a_bad_checksum_keeps_nothing(served: tuple[str, str], tmp_path: Path) -> None:
    url, _ = served
    with pytest.raises(ConfigError, match=r"^cannot download all-MiniLM-L6-v2 from .*: checksum mismatch"):
        download_model(tmp_path / "cache", url=url, sha256="0" * 64, progress=False)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [LOCK_NAME]  # the lock stays (see model_fetch)


def test_offline_falls_back_to_hashing_with_todays_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WEBCOACH_EMBED_DOWNLOAD", "1")
    monkeypatch.setenv("WEBCOACH_EMBED_MODEL_URL", "http://127.0.0.1:9/onnx.tar.gz")  # nothing listens on port 9
    with caplog.at_level(logging.WARNING, logger="webcoach"):
        assert isinstance(resolve_embedder(None), HashingEmbedder)
        assert isinstance(resolve_embedder(None), HashingEmbedder)  # not tried again in this process
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "downloading" in messages[0] and "using the hashing-v1 hashing embedder" in messages[1]
    with pytest.raises(ConfigError, match=r"all-MiniLM-L6-v2 was asked for .*cannot download"):
        resolve_embedder("minilm")


def test_download_off_never_touches_the_network(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("WEBCOACH_EMBED_MODEL_URL", "http://127.0.0.1:9/onnx.tar.gz")
    with caplog.at_level(logging.WARNING, logger="webcoach"):
        assert isinstance(resolve_embedder(None), HashingEmbedder)  # WEBCOACH_EMBED_DOWNLOAD=0 from conftest
    assert [r for r in caplog.records if "downloading" in r.getMessage()] == []
    assert not cache_root().exists()


@needs_model
def test_concurrent_first_uses_share_one_download(served: tuple[str, str], caplog: pytest.LogCaptureFixture) -> None:
    """Two agents starting at once on a fresh machine: one downloads, the other waits and uses the same files (they
    raced on one `.partial` file, and the loser built its store with the hashing embedder)."""
    url, digest = served
    caplog.set_level(logging.WARNING, logger="webcoach")
    results: list[Path | BaseException] = []

    def first_use() -> None:
        try:
            results.append(download_model(url=url, sha256=digest, progress=False))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == [cache_root() / "onnx"] * 3, results
    assert sum("downloading the" in r.getMessage() for r in caplog.records) == 1
    assert not list(cache_root().glob("*.partial"))
    assert isinstance(resolve_embedder(None), OnnxEmbedder)
