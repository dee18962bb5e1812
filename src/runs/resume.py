"""`--run.resume`: which run to continue, with which config, and what a resume may change."""

import os
import warnings
from pathlib import Path

from src.errors import UsageError
from src.files import SUMMARY_SECTIONS, DamagedFile, read_mapping, read_table, set_aside
from src.runs.status import check_status, is_live, read_status

# What a resumed run may not change: the record would mix two different runs.
_FIXED = {
    "model.class_path": "the model class",
    "model.optimizer.class_path": "the optimizer (its saved state is another optimizer's)",
    "model.scheduler.class_path": "the learning-rate schedule's class",
    "model.scheduler_interval": "whether the schedule steps per step or per epoch",
    "data.class_path": "the dataset",
    "data.batch_size": "the batch size (the loader position and the schedule count batches)",
    "data.val_split": "the validation split",
    "data.test_split": "the test split",
    "data.split_seed": "the splits",
    "seed_everything": "the seed",
    "checkpoint.monitor": "the monitored metric (the best checkpoint was chosen by it)",
    "checkpoint.mode": "the monitored metric's mode",
    "trainer.accumulate_grad_batches": "the gradient accumulation (the schedule counts steps)",
}
# Schedulers whose state a resume rewrites for new options (see WarmupCosine.load_state_dict).
_RESHAPEABLE = ("src.optim.WarmupCosine", "src.optim.warmup_cosine.WarmupCosine")


def find_runs(root: str | os.PathLike) -> list[Path]:
    """Run directories under `root`, at any depth, that can be resumed (have `last.ckpt`)."""
    return [
        ckpt.parent.parent
        for ckpt in Path(root).glob("**/checkpoints/last.ckpt")
        if (ckpt.parent.parent / "config.yaml").is_file()
    ]


def resolve_resume(
    resume: str, root: str | os.PathLike, command: list[str], job: str | None = None
) -> Path | None:
    """The run `--run.resume` names: a run directory, `last`, or `auto` (None: a new run)."""
    if resume in ("last", "auto"):
        runs = find_runs(root)
        if resume == "auto":  # this command's own earlier run, of this job when there is one
            runs = [r for r in runs if _started_by(r, command, job)]
            if not runs:
                return None
        elif not runs:
            raise UsageError(
                f"--run.resume last: no run with a checkpoint under {root}/ to resume; "
                "pass --run.root or a run directory"
            )
        run_dir = max(runs, key=lambda r: (r / "checkpoints" / "last.ckpt").stat().st_mtime)
    else:
        run_dir = Path(resume)
        if not (run_dir / "config.yaml").is_file():
            raise UsageError(
                f"--run.resume {resume}: {run_dir} is not a run directory (no config.yaml); "
                "pass a folder printed as 'Run directory: ...', `last` or `auto`"
            )
        if not (run_dir / "checkpoints" / "last.ckpt").is_file():
            raise UsageError(
                f"--run.resume {resume}: {run_dir} has no checkpoints/last.ckpt (it stopped before "
                "its first checkpoint); start it again without --run.resume"
            )
    record = read_status(run_dir)
    if is_live(record) and not (job and record.get("job") == job):  # a requeue follows its job
        raise UsageError(
            f"--run.resume: {run_dir} is still running (pid {record.get('pid')} on "
            f"{record.get('host')}); stop it first, or wait for it to end"
        )
    return run_dir


def _started_by(run_dir: Path, command: list[str], job: str | None) -> bool:
    record, damage = check_status(run_dir)
    if damage:
        warnings.warn(f"{damage}: cannot tell which command started {run_dir}", stacklevel=2)
    record = record or {}
    return record.get("command") == command and (job is None or record.get("job") == job)


def set_aside_damaged(run_dir: Path) -> None:
    """Before a resume writes into them: the run's records damaged by hand (status, summary,
    metrics) are renamed out of the way, kept beside the new ones, each with one warning."""

    def summary_problem(path: Path) -> str | None:
        try:
            read_mapping(path, SUMMARY_SECTIONS)
        except DamagedFile as error:
            return str(error)
        return None

    for name, why in (
        ("status.yaml", check_status(run_dir)[1]),
        ("summary.yaml", summary_problem(run_dir / "summary.yaml")),
        ("metrics.csv", read_table(run_dir / "metrics.csv", "step")[1]),
    ):
        if why:
            kept = set_aside(run_dir / name)
            warnings.warn(f"{why}: kept as {kept.name}; the run continues with a new {name}",
                          stacklevel=2)  # fmt: skip


def latest_config(run_dir: Path) -> Path:
    """The config the run last trained with: `config.yaml`, or the newest `config.resume-N.yaml`."""
    resumes = sorted(run_dir.glob("config.resume-*.yaml"), key=lambda p: int(p.stem.split("-")[-1]))
    return resumes[-1] if resumes else run_dir / "config.yaml"


def next_resume_config(run_dir: Path) -> str:
    return f"config.resume-{len(list(run_dir.glob('config.resume-*.yaml'))) + 1}.yaml"


def check_changes(previous: dict, current: dict) -> list[str]:
    """The options a resume changes (`key: old -> new`); one `UsageError` for one it may not."""
    before, after = _flatten(previous), _flatten(current)
    changed = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys()}
    changed = {k: v for k, v in changed.items() if v[0] != v[1] and not _is_bookkeeping(k)}
    for key, (old, new) in sorted(changed.items()):
        if key in _FIXED:
            raise UsageError(
                f"--run.resume keeps {_FIXED.get(key, key)}: {key} was {old}, now {new}; "
                "start a new run to change it"
            )
    scheduler = after.get("model.scheduler.class_path")
    reshaped = [k for k in changed if k.startswith("model.scheduler.") or k in _LENGTH_KEYS]
    reshaped += [k for k in changed if k == "model.optimizer.lr"]
    if scheduler and scheduler not in _RESHAPEABLE and reshaped:
        raise UsageError(
            f"--run.resume cannot change {', '.join(sorted(reshaped))} with {scheduler}: its saved "
            "state keeps the old schedule. Resume without the change, start a new run, or use "
            "WarmupCosine, which continues smoothly over a new length"
        )
    return [f"{k}: {old} -> {new}" for k, (old, new) in sorted(changed.items())]


_LENGTH_KEYS = ("trainer.max_epochs", "trainer.max_steps")
# Set by the CLI for every run (paths, this attempt's checkpoint), not chosen by the user.
_BOOKKEEPING = (
    "ckpt_path", "run.resume", "trainer.default_root_dir", "checkpoint.dirpath", "trainer.callbacks"
)  # fmt: skip


def _is_bookkeeping(key: str) -> bool:
    return key in _BOOKKEEPING or key.startswith("trainer.logger") or key == "config"


def _flatten(config: dict, prefix: str = "") -> dict:
    """`{"model": {"init_args": {"optimizer": ...}}}` -> `{"model.optimizer...": value}`."""
    flat = {}
    for key, value in (config or {}).items():
        name = prefix if key == "init_args" else f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        else:
            flat[name] = value
    return flat


def read_config(path: Path) -> dict:
    try:
        return read_mapping(path) or {}
    except DamagedFile as error:
        raise UsageError(f"{error}: restore the run's config from a copy") from None


def nothing_left(checkpoint: dict, max_epochs: int | None, max_steps: int, patience: int | None):
    """Why resuming `checkpoint` with these limits would train nothing, or None."""
    fit = checkpoint.get("loops", {}).get("fit_loop", {})
    epochs = fit.get("epoch_progress", {}).get("current", {})
    done = epochs.get("processed", 0)
    # A checkpoint from the end of validation comes before its epoch counts as processed.
    if done == epochs.get("completed", 0) and fit.get("epoch_loop.batch_progress", {}).get(
        "is_last_batch"
    ):
        done += 1
    step = checkpoint.get("global_step", 0)
    if max_steps is not None and max_steps >= 0 and step >= max_steps:
        return f"it reached max_steps {max_steps} (step {step}); pass a larger --trainer.max_steps"
    if max_epochs is not None and max_epochs >= 0 and done >= max_epochs:
        return (
            f"it finished epoch {done} of max_epochs {max_epochs}; "
            f"pass --trainer.max_epochs N (N > {done}) to train it for longer"
        )
    stopper = next(
        (v for k, v in checkpoint.get("callbacks", {}).items() if k.startswith("EarlyStopping")),
        None,
    )
    stopped = stopper and stopper.get("stopped_epoch") and patience is not None
    if stopped and stopper.get("wait_count", 0) >= patience:
        return (
            f"early stopping ended it at epoch {stopper['stopped_epoch']} ({patience} "
            "validations without improvement); pass a larger --early_stopping.patience"
        )
    return None
