"""The package installs as ONE namespace, `webcoach`: a built wheel holds only webcoach/ (never top-level coach/, cli...)
and importing it has no side effects."""

from __future__ import annotations

import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_only_the_webcoach_namespace(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("webcoach-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"webcoach", next(t for t in tops if t.endswith(".dist-info"))}, tops
    for expected in (
        "webcoach/__init__.py",
        "webcoach/cli.py",
        "webcoach/coach/coach.py",
        "webcoach/memory/store.py",
        "webcoach/hooks/browser_use.py",
        "webcoach/tasks/sites/shop/index.html",
        "webcoach/py.typed",
        "webcoach/ui/templates/episode.html",
    ):
        assert expected in names
    # every module of the source tree ships (a new subpackage missing from pyproject's list would be left out silently)
    skip = {"tests", "bench", ".venv", "venv", "build", "dist", ".git", ".ci"}
    sources = {
        "webcoach/" + p.relative_to(ROOT).as_posix()
        for p in ROOT.rglob("*.py")
        if not skip & set(p.relative_to(ROOT).parts) and ".egg-info" not in p.as_posix()
    }
    assert sources <= set(names), sorted(sources - set(names))
    assert not any(n.startswith(("webcoach/tests/", "webcoach/bench/")) for n in names)


def test_import_is_cheap_and_inert() -> None:
    code = (
        "import logging, sys; before = list(logging.getLogger().handlers); import webcoach; "
        "assert logging.getLogger().handlers == before; "
        "heavy = [m for m in ('chromadb', 'browser_use', 'playwright', 'anthropic', 'langchain_core') if m in sys.modules]; "
        "assert not heavy, heavy; print(webcoach.__version__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert logging.getLogger("webcoach").handlers == []


def test_public_api_names_resolve() -> None:
    import webcoach

    for name in webcoach.__all__:
        assert getattr(webcoach, name) is not None, name
