"""What an eval ran on, for run.json: package versions, the browser's version, webcoach's code revision, and file
hashes (the memory snapshot, reference answers, scripted models), so a run can be rerun and its rows described."""

from __future__ import annotations

import functools
import hashlib
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("webcoach", "browser-use", "chromadb", "playwright", "openai", "anthropic", "miniwob", "onnxruntime", "pydantic")


def sha256_file(path: str | Path | None) -> str | None:
    """The file's SHA-256 (hex), None when there is no such file."""
    if path is None:
        return None
    try:
        digest = hashlib.sha256()
        with Path(path).open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError:
        return None


def file_record(path: str | Path | None) -> dict[str, Any] | None:
    """{path, sha256} of a file a run depends on."""
    if path is None:
        return None
    return {"path": str(Path(path).resolve()), "sha256": sha256_file(path)}


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


@functools.cache
def browser_version(executable: str | None) -> str | None:
    """`chromium --version` of the browser the agents drive (None when it cannot say)."""
    if not executable:
        return None
    try:
        done = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


@functools.cache
def code_revision() -> str | None:
    """The git commit webcoach runs from (with '+dirty' when tracked files differ from it); None outside a checkout."""
    here = Path(__file__).resolve().parent.parent
    try:
        top = subprocess.run(["git", "-C", str(here), "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=10)
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != here:
            return None  # an installed copy (maybe inside someone else's repository): no revision of ours to name
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
