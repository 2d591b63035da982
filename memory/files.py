"""Private files: webcoach's data (episodes, exports, run histories, traces) is readable by its owner only.

Directories are made 0700 and files 0600, whatever the umask. Whole-file writes go through a temporary file created
with O_EXCL in the target's own directory (so no pre-placed symlink is ever followed) and renamed over the target
(rename replaces a symlink at the target rather than writing through it): the file appears whole or not at all.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from webcoach.errors import InputError, StoreError

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed and make it 0700; returns it."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
            path.chmod(DIR_MODE)
    except OSError as exc:
        raise StoreError(f"cannot create the private directory {path}: {exc.strerror or exc}") from exc
    return path


def private_tree(root: Path) -> None:
    """Make every directory under `root` 0700 and every file 0600 (files another library wrote with its own modes)."""
    if not root.is_dir():
        return
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            _chmod(Path(folder) / name, DIR_MODE)
        for name in files:
            _chmod(Path(folder) / name, FILE_MODE)


def _chmod(path: Path, mode: int) -> None:
    try:
        if not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) != mode:
            path.chmod(mode)
    except OSError:
        pass  # a file removed meanwhile, or not ours to change: it is no less private than it was


def write_private(target: Path, chunks: Iterable[str]) -> int:
    """Write `chunks` to `target` atomically as a 0600 file; returns how many chunks were written."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    written = 0
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=folder)  # O_EXCL, 0600
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from exc
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            for chunk in chunks:
                out.write(chunk)
                written += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written


def text_lines(path: str | os.PathLike[str]) -> list[str]:
    """The lines of a UTF-8 text file (an export), or one InputError that says why it cannot be read."""
    source = Path(path)
    try:
        return source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {source}: {exc}") from exc
