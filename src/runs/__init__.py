"""The run lifecycle: one directory and one record per run, whatever starts or stops it."""

from src.runs.directory import new_run_dir, run_dir_of_checkpoint, wandb_run_id
from src.runs.options import RunOptions
from src.runs.resume import resolve_resume
from src.runs.status import read_status, write_status

__all__ = [
    "RunOptions",
    "new_run_dir",
    "read_status",
    "resolve_resume",
    "run_dir_of_checkpoint",
    "wandb_run_id",
    "write_status",
]
