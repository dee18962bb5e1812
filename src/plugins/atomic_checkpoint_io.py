import os
from pathlib import Path
from typing import Any

from lightning.fabric.plugins import TorchCheckpointIO

from src.files import replaced_atomically


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made crash-safe: temporary file, fsync, rename.

    A kill during a write (SIGKILL, the node going down, a full disk) leaves the previous complete
    file in place, never a truncated one: `os.replace` swaps the name over only once every byte
    is on disk. `ResumableCheckpoint` installs it for the trainer it runs in.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # fsync: the bytes are on disk before the name points at them
        with replaced_atomically(path, fsync=True) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)
