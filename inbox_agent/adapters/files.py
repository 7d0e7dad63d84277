"""Private files, written whole or not at all: what the store and the outbox write.

They hold customers' mail, so every folder is 0700 and every file 0600 whatever the umask
(mkdir's and O_CREAT's modes are masked by it, so the mode is set again). A file is written to
an owner-only temp file, fsynced, renamed over its name, and the folder fsynced: a crash leaves
the old file or the new one. A write the disk refuses (full, read-only, no access) is a
``StoreWriteError`` in one line saying what it means and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from pathlib import Path

from inbox_agent.errors import StoreWriteError

DIR_MODE = 0o700  # customers' mail: the owner only
FILE_MODE = 0o600


def private_dir(path: Path, outcome: tuple[str, str]) -> None:
    """Make ``path`` a folder only its owner can enter, unless it exists, and so every folder
    made on the way to it (``mkdir(parents=True)`` would make those with the umask's mode).
    mkdir's mode is masked by the umask (0o277 would make it 0500), so each mode is set again."""
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    try:
        for folder in reversed(missing):
            folder.mkdir(mode=DIR_MODE, exist_ok=True)
            os.chmod(folder, DIR_MODE)
    except OSError as exc:
        raise StoreWriteError(write_failed(path, exc, outcome)) from exc


def write_whole(
    path: Path,
    payload: bytes,
    outcome: tuple[str, str],
    before_replace: Callable[[], None] | None = None,
) -> None:
    """``payload`` becomes ``path`` whole or not at all: an owner-only temp file, fsynced,
    renamed over ``path``, the folder fsynced. On failure the old file is as it was, and no
    temp file is left to hold space a full disk needs; ``outcome`` is what the failure means
    and what happens next, for its one-line message."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write_temp(tmp, payload)
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise StoreWriteError(write_failed(path, exc, outcome)) from exc


def write_temp(tmp: Path, payload: bytes) -> None:
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        # O_CREAT's mode is masked by the umask, and a temp file left by a crash keeps its mode.
        os.fchmod(fd, FILE_MODE)
        view = memoryview(payload)
        while view:  # os.write may write less than asked
            view = view[os.write(fd, view) :]
        os.fsync(fd)  # a full disk may only say so here (delayed allocation)
    finally:
        os.close(fd)


def write_failed(path: Path, exc: OSError, outcome: tuple[str, str]) -> str:
    done, then = outcome
    return f"{path}: could not write ({why(exc)}); {done}; {_fix(path, exc)}, {then}"


def _fix(path: Path, exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free space on its disk"
    if exc.errno == errno.EROFS:
        return "its disk is mounted read-only: make it writable"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"let the agent's user write to {path.parent}"
    return "check its disk"


def why(exc: OSError) -> str:
    if exc.strerror:
        return exc.strerror
    return os.strerror(exc.errno) if exc.errno else str(exc)


# Errors that mean "this filesystem cannot fsync a folder", not "the rename may not last".
_NO_DIR_FSYNC = (errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES, errno.EPERM)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable; an EIO here means it may not be, and is raised."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        if exc.errno in _NO_DIR_FSYNC:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_DIR_FSYNC:
            raise
    finally:
        os.close(fd)
