"""DirectoryLock: one server per data directory, held with flock(2) for as long as the server runs."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Final

LOCK_NAME: Final = "server.lock"


class DataDirectoryInUseError(RuntimeError):
    """Another server holds the data directory."""


class DirectoryLock:
    """An exclusive lock on `DATA_DIR/server.lock`, released by close() or by the process's death.

    Two servers on one directory would each index only their own ingests and overwrite each other's saved
    index segments, so the second is refused at start. The kernel drops a flock when its holder dies, even by
    kill -9, so a crash leaves nothing to clean up; the pid in the file only names the holder in the message.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / LOCK_NAME
        # Opened without truncating: the holder's pid must stay readable when a second server is refused.
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(self._fd)
            raise DataDirectoryInUseError(
                f"another server (pid {holder}) is using {directory}: stop it, or give this one another --data-dir"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode("ascii"), 0)

    def close(self) -> None:
        """Release the lock; the file stays, as an unlocked file is no claim."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
