"""Run directories: one folder per run under `logs/<experiment>/`, never shared."""

import os
import secrets
import shutil
import time
from pathlib import Path

from src.errors import UsageError

# Below this much free space a run would likely die at its first checkpoint: refuse up front.
MIN_FREE_BYTES = 64 * 2**20


def new_run_dir(parent: Path) -> Path:
    """Create `parent/<date>_<time>_<random id>`; the id keeps same-second runs apart."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    while True:
        run_dir = parent / f"{stamp}_{secrets.token_hex(2)}"
        try:
            run_dir.mkdir(parents=True)
        except FileExistsError:
            continue
        except OSError as error:
            raise UsageError(
                f"cannot create the run directory {run_dir} ({error.strerror}): "
                "pass --run.root pointing at a writable folder"
            ) from None
        try:
            check_writable(run_dir)
        except UsageError:
            run_dir.rmdir()
            raise
        return run_dir


def check_writable(run_dir: Path) -> None:
    """Fail before training, not at the first checkpoint, on a read-only or nearly full disk."""
    if not os.access(run_dir, os.W_OK):
        raise UsageError(f"the run directory {run_dir} is not writable: fix its permissions")
    free = shutil.disk_usage(run_dir).free
    if free < MIN_FREE_BYTES:
        raise UsageError(
            f"only {free // 2**20} MiB free on the disk of {run_dir}: free some space "
            "or pass --run.root on another disk"
        )


def wandb_run_id(run_dir: Path) -> str | None:
    """The id of the W&B run logged into `run_dir/wandb/` (`[offline-]run-<time>-<id>`), if any."""
    runs = sorted(
        p for p in (run_dir / "wandb").glob("*run-*-*") if p.is_dir() and not p.is_symlink()
    )
    return runs[0].name.rsplit("-", 1)[-1] if runs else None


def run_dir_of_checkpoint(ckpt_path: str | os.PathLike | None) -> Path | None:
    """The run directory a checkpoint was written into (`<run>/checkpoints/x.ckpt`), if any."""
    if ckpt_path is None:
        return None
    run_dir = Path(ckpt_path).resolve().parent.parent
    return run_dir if (run_dir / "config.yaml").is_file() else None
