"""`--run.resume`: which run directory to continue."""

import os
from pathlib import Path

from src.errors import UsageError
from src.runs.directory import RUN_DIR_ENV


def resolve_resume(resume: str, root: str | os.PathLike = "logs") -> Path:
    """The run directory `--run.resume` names: a path, or `last` for the newest run under root."""
    if os.environ.get("LOCAL_RANK", "0") != "0" and RUN_DIR_ENV in os.environ:
        return Path(os.environ[RUN_DIR_ENV])  # DDP workers continue the run rank 0 resolved
    if resume == "last":
        runs = [p.parent for p in Path(root).glob("*/*/config.yaml")]
        if not runs:
            raise UsageError(
                f"--run.resume last: no run under {root}/ to resume; "
                "pass --run.root or a run directory"
            )
        run_dir = max(runs, key=lambda p: (p.name, (p / "config.yaml").stat().st_mtime))
    else:
        run_dir = Path(resume)
    if not (run_dir / "config.yaml").is_file():
        raise UsageError(
            f"--run.resume {resume}: {run_dir} is not a run directory (no config.yaml); "
            "pass a folder printed as 'Run directory: ...', or `last`"
        )
    if not (run_dir / "checkpoints" / "last.ckpt").is_file():
        raise UsageError(
            f"--run.resume {resume}: {run_dir} has no checkpoints/last.ckpt (it stopped before its "
            "first checkpoint); start it again without --run.resume"
        )
    os.environ[RUN_DIR_ENV] = str(run_dir)
    return run_dir
