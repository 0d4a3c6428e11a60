"""Writing a file the user named with `--out` (export, detect) without ever touching a file they did not name.

* An existing file is never replaced unless the caller says so (`force`, the commands' ``--force``):
  without it, a plain file (or a link to one) at the path is refused with one line, and a file that
  appears there while the output is written is not overwritten either (the finished file is linked
  into place, which fails if the name is taken).
* A new path, or an existing plain file with `force`, is written atomically: a temporary file with an
  unpredictable name is created exclusively (``tempfile.mkstemp``: ``O_CREAT|O_EXCL``, never through a
  link) in the target's directory, filled, synced, then moved to the target. It is mode 0600 whatever the umask
  (exports hold host, process and user names and key hashes). On any failure it is removed and the
  target is left as it was.
* An existing special file (a FIFO, a device such as ``/dev/full`` or ``/dev/null``) or a symbolic link
  (``/dev/stdout``) is written through, never replaced by a plain file. A symbolic link owned by another
  user (not root) is refused rather than followed, and so is a link to nothing.

Every failure is one `OutputFileError` line naming the path; a full disk says so.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from scops_tui.errors import ScopsError

__all__ = ["OutputFileError", "open_output", "refuse_existing"]

FILE_MODE = 0o600


class OutputFileError(ScopsError):
    """The output file cannot be written; the message names it."""


def _failure(path: Path, exc: OSError) -> OutputFileError:
    if exc.errno == errno.ENOSPC:
        return OutputFileError(f"{path}: cannot write: the disk is full")
    return OutputFileError(f"{path}: cannot write: {exc.strerror or exc}")


def _exists_message(path: Path) -> str:
    return f"{path} already exists (use --force to replace it)"


def refuse_existing(path: Path, *, force: bool = False) -> None:
    """Refuse, before any work, an output path whose file (or the file its link points to) would be replaced.

    A FIFO or a device (``/dev/null``, a link to ``/dev/stdout``) is written through, not replaced, and
    so is not refused; with `force` nothing is refused here.
    """
    try:
        entry = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _failure(path, exc) from None
    if stat.S_ISLNK(entry.st_mode) and entry.st_uid not in (os.geteuid(), 0):
        raise OutputFileError(f"{path}: a symbolic link owned by another user; not followed")
    if force:
        return
    try:
        target = os.stat(path)
    except FileNotFoundError:
        return  # a new name, or a dangling link (refused when written)
    except OSError as exc:
        raise _failure(path, exc) from None
    if stat.S_ISREG(target.st_mode):
        raise OutputFileError(_exists_message(path))


@contextlib.contextmanager
def open_output(path: Path, *, force: bool = False) -> Iterator[TextIO]:
    """A UTF-8 text handle for `path`: atomic for a new or plain file, written through for a special one.

    Without `force`, an existing plain file (or a link to one) is refused, never replaced. The caller
    writes inside the block; the file is complete at `path` only when the block ends without error. An
    exception in the block leaves a plain target as it was (a special one may have had part of the
    output written to it).
    """
    refuse_existing(path, force=force)
    try:
        entry = os.lstat(path)
    except FileNotFoundError:
        entry = None
    except OSError as exc:
        raise _failure(path, exc) from None
    if entry is None or stat.S_ISREG(entry.st_mode):
        with _atomic(path, replace=force) as handle:
            yield handle
    else:
        with _through(path, entry) as handle:
            yield handle


@contextlib.contextmanager
def _atomic(path: Path, *, replace: bool) -> Iterator[TextIO]:
    directory = path.parent
    if not directory.is_dir():
        raise OutputFileError(f"{path}: the directory {directory} does not exist")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".partial", dir=directory)
    except OSError as exc:
        raise _failure(path, exc) from None
    temporary = Path(name)
    try:
        os.fchmod(fd, FILE_MODE)
        handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            _move_without_replacing(temporary, path)
    except OutputFileError:
        temporary.unlink(missing_ok=True)
        raise
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise _failure(path, exc) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_directory(directory)


def _move_without_replacing(temporary: Path, path: Path) -> None:
    """Give the finished `temporary` the name `path` only if no file took that name meanwhile."""
    try:
        os.link(temporary, path, follow_symlinks=False)
    except FileExistsError:
        raise OutputFileError(_exists_message(path)) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A filesystem without hard links: check, then rename (a narrow window, no worse than `>`).
        if os.path.lexists(path):
            raise OutputFileError(_exists_message(path)) from None
        os.replace(temporary, path)
        return
    temporary.unlink()


@contextlib.contextmanager
def _through(path: Path, entry: os.stat_result) -> Iterator[TextIO]:
    is_link = stat.S_ISLNK(entry.st_mode)
    if is_link and entry.st_uid not in (os.geteuid(), 0):
        raise OutputFileError(f"{path}: a symbolic link owned by another user; not followed")
    try:
        target = os.stat(path)
    except FileNotFoundError:
        raise OutputFileError(f"{path}: a symbolic link to a file that does not exist; not followed") from None
    except OSError as exc:
        raise _failure(path, exc) from None
    if stat.S_ISDIR(target.st_mode):
        raise OutputFileError(f"{path}: is a directory")
    flags = os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC | (0 if is_link else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)  # a FIFO waits here for its reader, as with any shell redirection
    except OSError as exc:
        raise _failure(path, exc) from None
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (target.st_dev, target.st_ino):
            raise OutputFileError(f"{path}: it was replaced while being opened; not written")
        if stat.S_ISREG(opened.st_mode):
            os.ftruncate(fd, 0)  # a link to a plain file: write it as `>` would
        handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
    except OSError as exc:
        os.close(fd)
        raise _failure(path, exc) from None
    except BaseException:
        os.close(fd)
        raise
    try:
        with handle:
            yield handle
            handle.flush()
    except OSError as exc:
        raise _failure(path, exc) from None


def _sync_directory(directory: Path) -> None:
    """Make the rename durable; some filesystems cannot sync a directory, which is no error."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
