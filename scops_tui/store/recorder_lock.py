"""The recorder lock: a file beside the database that one recorder at a time holds (one writer per file)."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from pathlib import Path

from scops_tui.errors import DatabaseError

LOCK_ATTEMPTS = 10
"""Tries, 50 ms apart, to take the recorder lock before saying another recorder holds it."""


class RecorderLock:
    """An advisory lock beside the database that only one recorder at a time can hold.

    The lock file (`DB.recorder.lock`, mode 0600) holds the PID of the recorder. It is opened without
    following a symbolic link and only if it is a plain file of this user with one name, so a link or
    hard link planted at its path can never make the recorder overwrite another file. The lock itself
    is `flock`: the OS lets go of it when the process dies, so a stale file is simply taken over.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.path = Path(f"{db_path}.recorder.lock")
        self._fd: int | None = None

    def _open(self) -> int:
        """The lock file's descriptor (created 0600 if missing), refused unless it is safe to write."""
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
        try:
            try:
                fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                fd = os.open(self.path, flags)  # left by an earlier recorder: checked below
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise DatabaseError(
                    f"the lock file {self.path} is a symbolic link; not followed (remove it if it is not yours)"
                ) from None
            raise DatabaseError(f"cannot open the lock file {self.path}: {exc.strerror or exc}") from None
        info = os.fstat(fd)
        problem = None
        if not stat.S_ISREG(info.st_mode):
            problem = "is not a plain file"
        elif info.st_nlink != 1:
            problem = "has another name (a hard link)"
        elif info.st_uid != os.geteuid():
            problem = "belongs to another user"
        if problem is not None:
            os.close(fd)
            raise DatabaseError(f"the lock file {self.path} {problem}; not used (remove it if it is not yours)")
        return fd

    def acquire(self) -> None:
        """Take the lock or raise DatabaseError naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = self._open()
        # `held_by_other` in another process (db status, the app's status line) holds a shared lock for a
        # moment: a few short retries tell that apart from a recorder that holds the lock for good.
        for attempt in range(LOCK_ATTEMPTS):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt + 1 < LOCK_ATTEMPTS:
                    time.sleep(0.05)
        else:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DatabaseError(f"another recorder (pid {holder}) is already recording into {self.db_path}") from None
        try:
            os.fchmod(fd, 0o600)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        except OSError as exc:
            os.close(fd)
            raise DatabaseError(f"cannot write the lock file {self.path}: {exc.strerror or exc}") from None
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (also released by the OS when the process dies)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def held_by_other(self) -> bool:
        """True when some other process holds the lock right now (never creates or changes a file).

        A lock file this user may not read (another user's recorder) counts as held: when in doubt,
        callers such as `db restore` must not assume the database is idle.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        except PermissionError:
            return True
        except OSError:
            return False  # missing, or a symbolic link no recorder would use
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also lets go of the shared lock just taken
        return False
