"""Where a sweep's Optuna study lives: a journal file in the sweep folder, or a database."""

import contextlib
import os
import time
import uuid
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

from src.errors import SweepError
from src.experiments.liveness import HOST, owner_gone

# A writer holds the journal's lock for milliseconds: one this old was left by a lost process.
_GRACE_S = 10


def storage_url(storage: str | None, folder: Path) -> str:
    """`--storage` as a URL or absolute path: a database URL (`postgresql://...`,
    `sqlite:///...`), a `.db`/`.sqlite` file (SQLite), any other path a journal file; by
    default `<sweep folder>/optuna.journal`."""
    if storage is None:
        return str((folder / "optuna.journal").resolve())
    if "://" in storage:
        return storage
    path = Path(storage).expanduser().resolve()
    if path.suffix in (".db", ".sqlite", ".sqlite3"):
        return f"sqlite:///{path}"
    return str(path)


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """A journal file serves any number of processes on one machine or a shared filesystem;
    a database serves many machines."""
    if "://" not in url:
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(url, lock_obj=OwnedFileLock(url)))
    # SQLite locks the whole file per write: wait for it rather than fail under contention.
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine)
    except ImportError as error:
        raise SweepError(f"the storage {url.split('://')[0]} needs a driver: {error}") from None


def claim_lock(url: str):
    """What to hold while claiming a queued trial. Optuna's claim (WAITING -> RUNNING) is atomic
    in a journal and in databases with row locks, not in SQLite, which ignores `SELECT ... FOR
    UPDATE`: two workers could both take one trial. SQLite's claims take a file lock beside it."""
    if url.startswith("sqlite:///"):
        return OwnedFileLock(url.removeprefix("sqlite:///") + ".claim")
    return contextlib.nullcontext()


class OwnedFileLock(JournalFileOpenLock):
    """Optuna's open-file lock (`<journal>.lock`, created with O_EXCL: safe on NFS and across
    machines) that names its owner, so a lock left by a process killed while writing is
    released at once by the next process on its host, not after a grace period of silence."""

    def __init__(self, journal: str, grace_s: float = _GRACE_S):
        super().__init__(journal, grace_period=max(3, int(grace_s)))
        self.path = journal + ".lock"
        self.owner = f"{HOST} {os.getpid()}"
        self.grace_s = grace_s

    def acquire(self) -> bool:
        wait, seen, since = 0.001, None, time.monotonic()
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = _read(self.path)
                if owner != seen:  # a new holder: its grace period starts now
                    seen, since = owner, time.monotonic()
                if _is_orphaned(owner) or time.monotonic() - since > self.grace_s:
                    self._break(owner)
                    continue
                time.sleep(wait)
                wait = min(wait * 2, 0.1)
                continue
            os.write(fd, self.owner.encode())
            os.close(fd)
            return True

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        moved = f"{self.path}.{uuid.uuid4().hex}.released"
        try:
            os.rename(self.path, moved)
            os.unlink(moved)
        except OSError:
            raise RuntimeError(f"the journal lock {self.path} was not held") from None

    def _break(self, owner: str | None) -> None:
        """Remove the lock of `owner`; put it back if it turns out to be someone else's."""
        moved = f"{self.path}.{uuid.uuid4().hex}.stale"
        try:
            os.rename(self.path, moved)
        except OSError:
            return  # released meanwhile
        if _read(moved) != owner:
            with contextlib.suppress(OSError):  # a live holder's: restore it unless re-taken
                os.link(moved, self.path)
        os.unlink(moved)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read() or None
    except OSError:
        return None


def _is_orphaned(owner: str | None) -> bool:
    host, _, pid = (owner or "").partition(" ")
    return pid.isdigit() and owner_gone(host, int(pid))
