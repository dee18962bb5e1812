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

A process killed with SIGKILL (or by the out-of-memory killer) cannot write its end: its record
stays `running`. `read_status` reports such a run as `killed` when its process is known to be gone
(same host, pid not alive), so listings and `--run.resume last` never mistake it for a live run.
"""

import os
import socket
from datetime import datetime, timezone
from pathlib import Path

import yaml

FILENAME = "status.yaml"
STATUSES = ("running", "finished", "failed", "interrupted", "preempted")
#: What `read_status` may also report: a `running` record whose process is gone.
KILLED = "killed"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_status(run_dir: str | os.PathLike) -> dict | None:
    """The run's record, or None where it has none (a run from before records, or no run)."""
    path = Path(run_dir) / FILENAME
    try:
        record = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(record, dict) or record.get("status") not in STATUSES:
        return None
    if record["status"] == "running" and _process_is_gone(record):
        record = {**record, "status": KILLED}
    return record


def write_status(run_dir: str | os.PathLike, status: str, **fields) -> dict:
    """Merge `fields` into the run's record with `status`, stamp it, and write it atomically."""
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}; one of {STATUSES}")
    path = Path(run_dir) / FILENAME
    try:
        record = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        record = {}
    stamp = now()
    record.setdefault("started", stamp)
    record.update(fields, status=status, updated=stamp)
    if status == "running":
        record.update(ended=None, error=None, exit_code=None, signal=None)
        record.update(host=socket.gethostname(), pid=os.getpid())
    else:
        record["ended"] = fields.get("ended", stamp)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(yaml.safe_dump(record, sort_keys=False))
    os.replace(tmp, path)  # a reader never sees half a record
    return record


def _process_is_gone(record: dict) -> bool:
    if record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return False  # another machine's process: nothing to check it against
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
