"""One trainer per run directory (a lock file), and a clean stop on SIGINT / SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from pathlib import Path
from types import FrameType, TracebackType

LOCK_NAME = ".lock"


class RunLockedError(RuntimeError):
    """Another live process is training into the same run directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """``run_dir/.lock`` holding the pid and host of the process that trains the run.

    A second process gets `RunLockedError` naming the holder. A lock whose process is gone
    (same host, pid not alive) is stale and taken over.
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.held = False

    def _try_create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": os.getpid(), "host": socket.gethostname()}, f)
        return True

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._try_create():
            self.held = True
            return
        try:
            holder = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError):
            holder = {}
        holder = holder if isinstance(holder, dict) else {}
        pid, host = holder.get("pid"), holder.get("host")
        if host == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
            self.path.unlink(missing_ok=True)  # stale: its process is gone
            if self._try_create():
                self.held = True
                return
        if not isinstance(pid, int):  # empty or garbled: its writer died while writing it
            raise RunLockedError(
                f"{self.path} exists but names no process (it is empty or garbled); another "
                f"process may be starting to train this run. If none is, delete {self.path}.")
        raise RunLockedError(
            f"{self.path.parent} is being trained by process {pid} on {host}; wait for it to "
            f"finish or stop it. If that process no longer exists, delete {self.path}.")

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class StopSignals:
    """While active, SIGINT and SIGTERM set ``requested`` instead of killing the process.

    The training loop checks the flag after each iteration, saves a checkpoint and
    stops. A second SIGINT raises KeyboardInterrupt at once. Outside the main thread
    (where handlers cannot be installed) it does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""
        self._old: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old.clear()
