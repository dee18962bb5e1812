"""Every logger writes into the run directory, W&B offline by itself without credentials."""

import pydoc
from pathlib import Path

from jsonargparse import Namespace
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger

from src.errors import UsageError
from src.loggers.appending_csv import AppendingCSVLogger
from src.loggers.batched_wandb import BatchedWandbLogger
from src.loggers.wandb_mode import choose_wandb_mode, has_wandb_credentials


def point_loggers_at(
    logger_config, run_dir: Path, name: str, wandb_id: str | None = None
) -> tuple[list[Namespace], list[str]]:
    """The trainer's loggers writing into `run_dir`, and always a `metrics.csv` there too.

    With `wandb_id` (a resumed run) W&B continues that run instead of starting a new one.
    Returns the logger configs and the notes to show the user when the run starts.
    """
    if logger_config in (None, False, True):
        loggers = []
    else:
        loggers = list(logger_config) if isinstance(logger_config, list) else [logger_config]
    notes = []
    for logger in loggers:
        kind = pydoc.locate(logger.class_path)
        logger.init_args.save_dir = str(run_dir)
        if issubclass(kind, WandbLogger):
            if kind is WandbLogger:  # one `wandb.log` call per step, not one per caller
                logger.class_path = f"{BatchedWandbLogger.__module__}.{BatchedWandbLogger.__name__}"
            mode = choose_wandb_mode()
            if mode == "online" and not has_wandb_credentials():
                raise UsageError(
                    "WANDB_MODE=online but W&B has no API key here: run `wandb login` (or set "
                    "WANDB_API_KEY), or unset WANDB_MODE to log offline and `wandb sync` later"
                )
            offline = mode != "online"
            if offline:
                import wandb  # imported here: runs without W&B never import it

                # Silent offline, as WANDB_SILENT asks: wandb.init would otherwise warn about the
                # `anonymous=None` Lightning's WandbLogger always passes it, on every run.
                wandb.setup(wandb.Settings(silent=True))
            logger.init_args.offline = offline
            if offline and logger.init_args.get("log_model"):
                # WandbLogger refuses log_model offline: there is nowhere to upload to.
                logger.init_args.log_model = False
                notes.append(f"W&B is offline: checkpoints stay in {run_dir}/checkpoints")
            logger.init_args.name = logger.init_args.get("name") or f"{name}/{run_dir.name}"
            if wandb_id:
                logger.init_args.id = wandb_id
                logger.init_args.resume = "allow"
        elif issubclass(kind, CSVLogger | TensorBoardLogger):
            # Straight into the run directory: the trainer's log_dir, where config.yaml goes, is
            # the first logger's, and TensorBoard finds the events of every run under logs/.
            logger.init_args.name = ""
            logger.init_args.version = ""
    if not any(issubclass(pydoc.locate(logger.class_path), CSVLogger) for logger in loggers):
        csv = f"{AppendingCSVLogger.__module__}.{AppendingCSVLogger.__name__}"
        loggers.append(
            Namespace(
                class_path=csv, init_args=Namespace(save_dir=str(run_dir), name="", version="")
            )
        )
    return loggers, notes
