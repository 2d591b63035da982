"""First-use download of all-MiniLM-L6-v2 (ONNX): Chroma's own archive, into Chroma's own cache layout, checksum-verified.

Chroma fetches this file the first time its default embedder runs; webcoach does the same for its own embedder, so a
machine with internet gets real sentence embeddings without a setup step, and Chroma and webcoach share one copy
(~/.cache/chroma/onnx_models/all-MiniLM-L6-v2/{onnx.tar.gz, onnx/}). The URL and checksum are Chroma 1.x's
(`ONNXMiniLM_L6_V2.MODEL_DOWNLOAD_URL` / `_MODEL_SHA256`), pinned here so no module but store.py imports chromadb.
WEBCOACH_EMBED_DOWNLOAD=0 turns the download off; WEBCOACH_EMBED_MODEL_URL (+ _SHA256) points it at a mirror."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import httpx
from webcoach.errors import ConfigError
from webcoach.settings import ENV_EMBED_DOWNLOAD, ENV_EMBED_MODEL_DIR, ENV_EMBED_MODEL_SHA256, ENV_EMBED_MODEL_URL

logger = logging.getLogger("webcoach")

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_URL = "https://chroma-onnx-models.s3.amazonaws.com/all-MiniLM-L6-v2/onnx.tar.gz"
MODEL_SHA256 = "913d7300ceae3b2dbc2c50d1de4baacab4be7b9380491c27fab7418616a16ec3"
ARCHIVE = "onnx.tar.gz"
LOCK_NAME = ".webcoach-download.lock"
FOLDER = "onnx"
_CHUNK = 1 << 16
_OFF = {"0", "false", "no", "off"}


def cache_root() -> Path:
    """Chroma's download folder for the model (its DOWNLOAD_PATH); the files land in cache_root()/onnx."""
    return Path.home() / ".cache" / "chroma" / "onnx_models" / MODEL_NAME


def download_enabled(explicit: bool | None = None) -> bool:
    """argument > WEBCOACH_EMBED_DOWNLOAD (0/false/no/off turn it off) > on."""
    if explicit is not None:
        return explicit
    return os.environ.get(ENV_EMBED_DOWNLOAD, "1").strip().lower() not in _OFF


def download_model(
    root: Path | None = None, *, url: str | None = None, sha256: str | None = None, progress: bool = True, timeout: float = 30.0
) -> Path:
    """Fetch the archive into `root` (default: Chroma's cache), verify its SHA-256, unpack it to root/onnx; returns that
    folder. An archive already there with the right checksum is not fetched again. Fails with one ConfigError line."""
    root = root or cache_root()
    url = url or os.environ.get(ENV_EMBED_MODEL_URL) or MODEL_URL
    expected = (sha256 or os.environ.get(ENV_EMBED_MODEL_SHA256) or MODEL_SHA256).lower()
    archive = root / ARCHIVE
    try:
        root.mkdir(parents=True, exist_ok=True)
        with _download_lock(root, timeout):
            return _fetch_and_unpack(url, archive, root, expected, progress=progress, timeout=timeout)
    except (httpx.HTTPError, OSError, tarfile.TarError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot download {MODEL_NAME} from {url}: {reason}; without internet, copy a folder holding model.onnx and "
            f"tokenizer.json from another machine and set {ENV_EMBED_MODEL_DIR} to it"
        ) from exc


def _fetch_and_unpack(url: str, archive: Path, root: Path, expected: str, *, progress: bool, timeout: float) -> Path:
    """Under the download lock: another process may have fetched and unpacked it while this one waited."""
    if (root / FOLDER / "model.onnx").is_file() and archive.is_file() and _sha256(archive) == expected:
        return root / FOLDER
    if not (archive.is_file() and _sha256(archive) == expected):
        logger.warning(
            "webcoach: downloading the %s embedding model (~80 MB, once) from %s into %s; set %s=0 to skip it",
            MODEL_NAME,
            url,
            root,
            ENV_EMBED_DOWNLOAD,
        )
        _fetch(url, archive, expected, progress=progress, timeout=timeout)
    return _unpack(archive, root)


@contextmanager
def _download_lock(root: Path, timeout: float) -> Iterator[None]:
    """Concurrent first uses (two agents starting at once) share one download: the second waits for the first, then
    finds the files. Without it both wrote one `.partial` file and the loser failed, then fell back to hashing."""
    from filelock import FileLock, Timeout

    try:
        with FileLock(root / LOCK_NAME, timeout=max(timeout, 1.0) * 20):  # a slow download may take minutes
            yield
    except Timeout as exc:
        raise OSError(f"another process has been downloading into {root} for too long") from exc


def download_default_model() -> Path:
    """`webcoach memory setup-embedder`: fetch the model now (needs internet); returns its folder."""
    return download_model()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, archive: Path, expected: str, *, progress: bool, timeout: float) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    # A name of this process's own: nothing another process does can move it away under this one.
    handle, name = tempfile.mkstemp(prefix=archive.name + ".", suffix=".partial", dir=archive.parent)
    os.close(handle)
    partial = Path(name)
    digest = hashlib.sha256()
    bar = Progress(
        TextColumn(f"{MODEL_NAME}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not progress,
    )
    try:
        with (
            httpx.stream("GET", url, follow_redirects=True, timeout=httpx.Timeout(timeout, connect=10.0)) as response,
            bar,
            partial.open("wb") as out,
        ):
            response.raise_for_status()
            size = int(response.headers.get("content-length", 0)) or None
            job = bar.add_task("download", total=size)
            for block in response.iter_bytes(_CHUNK):
                out.write(block)
                digest.update(block)
                bar.advance(job, len(block))
        if digest.hexdigest() != expected:
            raise ValueError(f"checksum mismatch (sha256 {digest.hexdigest()}, expected {expected})")
        partial.replace(archive)
    finally:
        partial.unlink(missing_ok=True)


def _unpack(archive: Path, root: Path) -> Path:
    """Extract onnx/* (plain files only, no links or absolute paths) next to the archive; the folder appears whole."""
    target = root / FOLDER
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                parts = PurePosixPath(member.name).parts
                if member.isdir():
                    continue
                if not member.isfile() or PurePosixPath(member.name).is_absolute() or ".." in parts or parts[0] != FOLDER:
                    raise ValueError(f"unexpected entry {member.name!r} in {archive.name}")
                source = tar.extractfile(member)
                if source is None:
                    raise ValueError(f"unreadable entry {member.name!r} in {archive.name}")
                dest = staging.joinpath(*parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                with source, dest.open("wb") as out:
                    shutil.copyfileobj(source, out)
        if target.exists():
            shutil.rmtree(target)
        (staging / FOLDER).replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
