"""`status.yaml`: how a run stands or how it ended, kept current by the run's rank-0 process.

    status: finished        # running | finished | failed | interrupted | preempted
    error: null             # failed: the one `error:` line (or the exception) that ended it
    exit_code: 0            # what the process exited with (interrupted by SIGINT: 130)
    signal: null            # interrupted / preempted: SIGINT, SIGTERM, SIGUSR1...
    started: '2026-12-01T06:00:00+00:00'   # first start of the run
    updated: '2026-12-01T06:09:10+00:00'   # last write (start, checkpoints, end)
    ended: '2026-12-01T06:09:10+00:00'     # null while running
    global_step: 1000       # optimizer steps done at the last update
    epoch: 3
    attempts: 2             # starts of this run: 1 + resumes
    host: node01            # where the current attempt runs
    pid: 12345
    job: slurm-123456       # the launcher's job, where there is one

A process killed with SIGKILL (or by the out-of-memory killer, or with its node) cannot write its
end: its record stays `running`. A live run refreshes `updated` every minute (`Heartbeat`), so
`read_status` reports a `running` record as `killed` when its process is gone (same host, pid not
alive) or its heartbeat stopped more than `STALE_AFTER_S` ago; listings and `--run.resume` never
mistake such a run for a live one.
"""

import os
import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from src.files import DamagedFile, read_mapping, write_atomically

FILENAME = "status.yaml"
STATUSES = ("running", "finished", "failed", "interrupted", "preempted")
#: What `read_status` may also report: a `running` record whose process is gone.
KILLED = "killed"
HEARTBEAT_S = 60
STALE_AFTER_S = 5 * HEARTBEAT_S
_WRITING = threading.Lock()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_status(run_dir: str | os.PathLike) -> dict | None:
    """The run's record, or None where it has none (a run from before records, no run, or a
    record damaged by hand: `check_status` says why)."""
    return check_status(run_dir)[0]


def check_status(run_dir: str | os.PathLike) -> tuple[dict | None, str | None]:
    """`(record, None)` for a sound record (a `running` one whose process is gone reads as
    `killed`), `(None, None)` where there is none, and `(None, why)` for one damaged by hand
    (not YAML, no status, times or counts of the wrong type), which is then as good as none: a
    damaged record never reads as a live run."""
    path = Path(run_dir) / FILENAME
    try:
        record = read_mapping(path)
    except DamagedFile as error:
        return None, str(error)
    if record is None:
        return None, None
    if record.get("status") not in STATUSES:
        return None, f"{path} has status {record.get('status')!r}, none of {', '.join(STATUSES)}"
    for key in ("started", "updated", "ended"):
        if record.get(key) is not None and _time(record[key]) is None:
            return None, f"{path} has {key}: {record[key]!r}, which is no time"
    for key in ("attempts", "pid", "global_step", "epoch", "exit_code"):
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return None, f"{path} has {key}: {value!r}, which is no whole number"
    if record["status"] == "running" and record.get("updated") is None:
        return None, f"{path} says running but has no `updated` time"
    if record["status"] == "running" and _process_is_gone(record):
        record = {**record, "status": KILLED}
    return record, None


def _time(value) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def write_status(run_dir: str | os.PathLike, status: str, **fields) -> dict:
    """Merge `fields` into the run's record with `status`, stamp it, and write it atomically."""
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}; one of {STATUSES}")
    with _WRITING:  # the heartbeat thread and the training loop: one read-merge-write at a time
        return _merge_and_write(Path(run_dir) / FILENAME, status, fields)


def _merge_and_write(path: Path, status: str, fields: dict) -> dict:
    record = check_status(path.parent)[0] or {}  # a damaged record starts again
    stamp = now()
    record.setdefault("started", stamp)
    record.update(fields, status=status, updated=stamp)
    if status == "running":
        record.update(ended=None, error=None, exit_code=None, signal=None)
        record.update(host=socket.gethostname(), pid=os.getpid())
    else:
        record["ended"] = fields.get("ended", stamp)
    write_atomically(path, yaml.safe_dump(record, sort_keys=False))  # never half a record
    return record


def is_live(record: dict | None) -> bool:
    """Whether the record is of a run whose process is still going (as far as can be told)."""
    return record is not None and record.get("status") == "running"


class Heartbeat:
    """Refreshes a running record's `updated` every `HEARTBEAT_S` seconds from a daemon thread,
    whatever the training loop is doing (a long validation, a slow first batch)."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir, self._stop, self._lock = Path(run_dir), threading.Event(), threading.Lock()
        self._thread = threading.Thread(target=self._beat, name="run-heartbeat", daemon=True)

    def start(self) -> "Heartbeat":
        self._thread.start()
        return self

    def stop(self) -> None:
        """After this returns the thread writes nothing more: the run's end can be recorded."""
        with self._lock:
            self._stop.set()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                if self._stop.is_set():
                    return
                write_status(self.run_dir, "running")


def _process_is_gone(record: dict) -> bool:
    updated = _time(record.get("updated"))
    if updated and datetime.now(timezone.utc) - updated > timedelta(seconds=STALE_AFTER_S):
        return True  # no heartbeat for minutes: its process is gone, on whatever machine
    if record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return False  # another machine's process: nothing more to check it against
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
