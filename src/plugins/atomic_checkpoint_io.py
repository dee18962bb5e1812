import os
from pathlib import Path
from typing import Any

from lightning.fabric.plugins import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made crash-safe: temporary file, fsync, rename.

    A kill during a write (SIGKILL, the node going down, a full disk) leaves the previous complete
    file in place, never a truncated one: `os.replace` swaps the name over only once every byte
    is on disk. `ResumableCheckpoint` installs it for the trainer it runs in.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp, target)
