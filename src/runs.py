"""Run directories: one folder per run under `logs/<experiment>/`, never shared."""

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

# Set by rank 0 so DDP worker processes it launches write into the same run directory.
RUN_DIR_ENV = "LIGHTNING_RESEARCH_RUN_DIR"


@dataclass
class RunOptions:
    """Where a run writes its outputs.

    Args:
        name: Experiment name, the folder under `root`. Defaults to the first `--config` file's
            name (`configs/mnist.yaml` -> `mnist`), else the datamodule's name.
        root: Folder holding all experiments' run directories.
        test_after_fit: After `fit`, evaluate the best checkpoint on the test split.
    """

    name: str | None = None
    root: str = "logs"
    test_after_fit: bool = True


def new_run_dir(parent: Path) -> Path:
    """Create `parent/<date>_<time>_<random id>`; the id keeps same-second runs apart."""
    if os.environ.get("LOCAL_RANK", "0") != "0" and RUN_DIR_ENV in os.environ:
        return Path(os.environ[RUN_DIR_ENV])
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    while True:
        run_dir = parent / f"{stamp}_{secrets.token_hex(2)}"
        try:
            run_dir.mkdir(parents=True)
        except FileExistsError:
            continue
        os.environ[RUN_DIR_ENV] = str(run_dir)
        return run_dir


def run_dir_of_checkpoint(ckpt_path: str | os.PathLike | None) -> Path | None:
    """The run directory a checkpoint was written into (`<run>/checkpoints/x.ckpt`), if any."""
    if ckpt_path is None:
        return None
    run_dir = Path(ckpt_path).resolve().parent.parent
    return run_dir if (run_dir / "config.yaml").is_file() else None
