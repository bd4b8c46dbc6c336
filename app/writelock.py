"""SQLite's writers queue on one lock instead of sleeping in SQLite's busy handler.

SQLite has one writer at a time; a writer that finds the file locked polls in SQLite's busy
handler, which sleeps 1, 2, 5, 10 … ms between tries. Here writers queue instead: the
threads of a process on a lock, the processes (several workers on one file, the scheduler)
on an flock of `<database>.write-lock`, which the kernel hands to the next waiter at once.
A `transactional` operation (app.db) arms the lock (`writer`) and takes it at its first
write statement (`lock_before_writing`, an engine listener), keeping it to its commit or
rollback: operations read, step their workflows and plan side by side and queue only to
write; the version check on the case row decides a race, as on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading


class WriteLock:
    """The SQLite writers' queue: reentrant for a thread, exclusive across the threads of a
    process (a lock) and across processes (an flock of `<database>.write-lock`, which the
    kernel hands to the next waiter at once). An in-memory database has the thread lock only.
    """

    def __init__(self, database: str | None) -> None:
        self._threads = threading.RLock()
        self._depth = threading.local()
        self._path = None
        if database and database != ":memory:" and not database.startswith("file:"):
            self._path = f"{database}.write-lock"
        self._fd: int | None = None
        self._pid = os.getpid()

    def __enter__(self) -> WriteLock:
        self._threads.acquire()
        depth = getattr(self._depth, "n", 0)
        self._depth.n = depth + 1
        if depth == 0 and self._path is not None:
            try:
                if self._fd is None or self._pid != os.getpid():  # a forked worker: its own
                    self._fd, self._pid = (
                        os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600),
                        os.getpid(),
                    )
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except OSError:  # no lock file (a read-only folder): SQLite's busy handler
                pass
        return self

    def __exit__(self, *_exc) -> None:
        self._depth.n -= 1
        if self._depth.n == 0 and self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


_WRITER = threading.local()  # the write lock the thread's current operation takes to write
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@contextlib.contextmanager
def writer(lock: WriteLock | None):
    """Arm `lock` for the thread's operation: taken at its first write, released at the end
    (after the commit or the rollback). A nested operation runs under the outer one's."""
    if lock is None or getattr(_WRITER, "lock", None) is not None:
        yield
        return
    _WRITER.lock, _WRITER.held = lock, False
    try:
        yield
    finally:
        held, _WRITER.lock, _WRITER.held = _WRITER.held, None, False
        if held:
            lock.__exit__(None, None, None)


def lock_before_writing(_conn, _cursor, statement, _params, _context, _many) -> None:
    lock = getattr(_WRITER, "lock", None)
    if lock is not None and not _WRITER.held and statement.lstrip()[:7].upper().startswith(_WRITES):
        lock.__enter__()
        _WRITER.held = True
