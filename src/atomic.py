"""Files replaced in one step: written to a temporary name beside them, then `os.replace`d.

Readers (another rank, a `compare` while a run writes, a resume after a kill) see the old file
or the new one, never half of one. Every file the project rewrites in place goes through here:
status and trial records, tables and plots, decode caches, the launch files ranks share, and
checkpoints (`AtomicCheckpointIO`).
"""

import contextlib
import os
import threading
from pathlib import Path


@contextlib.contextmanager
def replaced_atomically(path: str | os.PathLike, fsync: bool = False):
    """Yield a temporary path beside `path` to write; once the block ends it replaces `path`.

    The temporary name is unique per process and thread, so two writers of the same file never
    share one. With `fsync` the bytes reach the disk before the name points at them (what a
    checkpoint needs to survive a power cut, not only a kill). If the block raises, `path` is
    left as it was and the temporary file is removed.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomically(path: str | os.PathLike, data: str | bytes) -> None:
    """Replace `path` with `data` (text as UTF-8) in one step."""
    with replaced_atomically(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
