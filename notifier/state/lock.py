"""One copy at a time: `notifier run` holds an exclusive lock beside the state store.

`flock` locks belong to the open file, so the kernel releases them when the process
dies, even by SIGKILL: a restart after a crash never finds a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from notifier.settings import ConfigError


class AlreadyRunning(ConfigError):
    """Another notifier holds the lock: exit status 2 like any configuration problem
    (two copies pointed at one store), printed as `notifier: ...`. A ConfigError, so
    `commands/exits.py` need not import the store to recognise it (start-up time)."""

    def __init__(self, message: str):
        super().__init__([f"notifier: {message}"])


class InstanceLock:
    def __init__(self, db_path: Path):
        self.path = Path(f"{db_path}.lock")
        self._file: IO[str] | None = None

    def acquire(self) -> InstanceLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+")  # noqa: SIM115 - held for the life of the process
        except OSError as exc:
            raise ConfigError(
                [f"NOTIFIER_DB: cannot create the lock {self.path}: {exc.strerror or exc}"]
            ) from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "?"
            handle.close()
            raise AlreadyRunning(
                f"another notifier (pid {pid}) is already running on this state store "
                f"(lock {self.path}); stop it first"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return self

    def holder(self) -> int | None:
        """The pid of the live process holding the lock, without touching the lock
        (so `status` can never make a starting `run` fail); None when none runs."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        if not text.isdigit():
            return None
        pid = int(text)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None  # died without releasing (SIGKILL): the kernel freed the lock
        except PermissionError:
            pass  # alive, someone else's
        return pid

    def release(self) -> None:
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
