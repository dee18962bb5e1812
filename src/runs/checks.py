"""Options checked before anything is built: this machine's limits, values that train nothing."""

import importlib.util
import os
import pydoc
import warnings

import torch
from jsonargparse import Namespace

from src.errors import UsageError


def check_options(config: Namespace, subcommand: str) -> None:
    check_hardware(config.trainer)
    check_training_length(config.trainer)
    check_learning_rate(config)
    check_clipping(config.trainer)
    check_checkpoint_name(config.get("ckpt_path"), subcommand)
    if subcommand == "fit":
        check_validation_runs(config)


def check_hardware(trainer: Namespace) -> None:
    """Devices or a precision this machine cannot provide: say so before anything starts."""
    accelerator, devices = str(trainer.get("accelerator")), trainer.get("devices")
    if accelerator == "auto":
        accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise UsageError(
            f"--trainer.accelerator {accelerator} but no GPU is visible: "
            "use --trainer.accelerator cpu (or --config configs/presets/cpu.yaml)"
        )
    precision = str(trainer.get("precision"))
    engine = precision.startswith("transformer-engine")
    if engine and accelerator != "cpu" and importlib.util.find_spec("transformer_engine") is None:
        raise UsageError(
            f"--trainer.precision {precision} needs NVIDIA's Transformer Engine: pip install "
            "transformer_engine[pytorch], or use bf16-mixed"
        )
    if accelerator == "cpu" and (precision in ("16", "16-true") or "transformer" in precision):
        raise UsageError(
            f"--trainer.precision {precision} is not supported on the CPU: "
            "use bf16-mixed (or 32-true)"
        )
    if accelerator == "cpu" and trainer.get("sync_batchnorm"):
        raise UsageError(
            "--trainer.sync_batchnorm works on GPUs only: pass --trainer.sync_batchnorm false"
        )
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    if not isinstance(devices, int) or isinstance(devices, bool) or devices < 1:
        return
    if accelerator == "cpu":
        available, kind = os.cpu_count() or 1, "CPU cores"
    elif accelerator in ("gpu", "cuda"):
        available, kind = torch.cuda.device_count(), "GPUs"
    else:
        return
    if devices > available:
        raise UsageError(
            f"--trainer.devices {devices} but this machine has {available} {kind}: "
            f"use at most {available} (or -1 for all)"
        )


def check_training_length(trainer: Namespace) -> None:
    """Limits under which `fit` would train nothing, and exit 0 as if it had."""
    for key in ("max_epochs", "max_steps"):
        value = trainer.get(key)
        if value is not None and (value == 0 or value < -1):
            raise UsageError(
                f"--trainer.{key} {value} trains nothing: give a positive number (-1: no limit)"
            )
    limit = trainer.get("limit_train_batches")
    if limit is not None and limit <= 0:
        raise UsageError(
            f"--trainer.limit_train_batches {limit} trains on no batches: give a fraction in "
            "(0, 1] or a number of batches >= 1"
        )
    accumulate = trainer.get("accumulate_grad_batches")
    if accumulate is not None and accumulate < 1:
        raise UsageError(
            f"--trainer.accumulate_grad_batches {accumulate}: give 1 (no accumulation) or more"
        )


def check_seed(seed) -> None:
    """Lightning refuses a seed numpy cannot take only once the run has started, in a traceback."""
    if isinstance(seed, int) and not isinstance(seed, bool) and not 0 <= seed < 2**32:
        raise UsageError(
            f"--seed_everything {seed} is out of range: give 0 to {2**32 - 1} (or true for a "
            "random seed, which the run's config.yaml records)"
        )


def check_clipping(trainer: Namespace) -> None:
    """Lightning skips clipping for a value <= 0 without a word."""
    value = trainer.get("gradient_clip_val")
    if value is None:
        return
    if value < 0:
        raise UsageError(
            f"--trainer.gradient_clip_val {value} is negative: give the largest gradient norm "
            "(or value) to allow, e.g. 1.0, or leave it unset for no clipping"
        )
    if value == 0:
        warnings.warn(
            "--trainer.gradient_clip_val 0 clips nothing (Lightning skips clipping at 0): leave it "
            "unset for no clipping, or give a positive limit",
            stacklevel=2,
        )


def check_checkpoint_name(ckpt_path, subcommand: str) -> None:
    """Lightning's names for checkpoints of the trainer's own folder, which is new for every run
    here: `last` would silently train from scratch, `best` fails deep inside."""
    if str(ckpt_path) not in ("last", "best", "hpc"):
        return
    if subcommand == "fit":
        raise UsageError(
            f"--ckpt_path {ckpt_path}: a new run has no checkpoints of its own to start from; "
            "continue a run with --run.resume last (the newest) or --run.resume <run dir>, or "
            "start from a file with --ckpt_path <run>/checkpoints/last.ckpt"
        )
    raise UsageError(
        f"--ckpt_path {ckpt_path} names a checkpoint of a fit in this same process: pass the "
        "file, --ckpt_path <run>/checkpoints/best.ckpt"
    )


def check_validation_runs(config: Namespace) -> None:
    """A schedule that never validates has no best checkpoint, and nothing for early stopping to
    follow: said in one warning, and both are set to need no validation metric (last.ckpt
    still keeps the latest state; the test after fit uses the final weights)."""
    why = _never_validates(config)
    if why is None:
        return
    warnings.warn(
        f"validation never runs ({why}): no best.ckpt and no early stopping; last.ckpt keeps the "
        "latest state and the test after fit uses the final weights",
        stacklevel=2,
    )
    config.checkpoint.monitor, config.checkpoint.save_top_k = None, 0
    config.early_stopping.strict = False  # it then waits for a metric that never comes, quietly


def _never_validates(config: Namespace) -> str | None:
    trainer = config.trainer
    if trainer.get("limit_val_batches") == 0:
        return f"--trainer.limit_val_batches {trainer.limit_val_batches}"
    every, epochs = trainer.get("check_val_every_n_epoch"), trainer.get("max_epochs")
    no_step_limit = trainer.get("max_steps") in (None, -1)
    if every and epochs and epochs > 0 and every > epochs and no_step_limit:
        return f"--trainer.check_val_every_n_epoch {every} with --trainer.max_epochs {epochs}"
    from lightning.pytorch import LightningDataModule, LightningModule

    for section, base, hook in (
        ("model", LightningModule, "validation_step"),
        ("data", LightningDataModule, "val_dataloader"),
    ):
        cls = pydoc.locate(str((config.get(section) or Namespace()).get("class_path")))
        if isinstance(cls, type) and getattr(cls, hook, None) is getattr(base, hook):
            return f"{cls.__name__} has no {hook}"
    return None


def check_learning_rate(config: Namespace) -> None:
    optimizer = config.get("model", Namespace()).get("init_args", Namespace()).get("optimizer")
    init_args = optimizer.get("init_args") if isinstance(optimizer, Namespace) else None
    lr = init_args.get("lr") if isinstance(init_args, Namespace) else None
    if not isinstance(lr, int | float):
        return
    if lr < 0:
        raise UsageError(f"--model.optimizer.lr {lr} is negative: give a positive learning rate")
    if lr == 0:
        warnings.warn(
            "--model.optimizer.lr 0: the weights will not change during training", stacklevel=2
        )


def check_monitor(model, monitor: str | None) -> None:
    """The metric checkpointing and early stopping follow must be one the model logs; found now,
    not after the first epoch. Models built on `ResearchModule` list what they log; other
    LightningModules are checked by Lightning at the first validation."""
    from src.models import ResearchModule

    if monitor is None or not isinstance(model, ResearchModule):
        return
    logged = model.logged_metrics()
    if monitor not in logged:
        raise UsageError(
            f"--checkpoint.monitor {monitor} is not a metric {type(model).__name__} logs; "
            f"choose one of {', '.join(sorted(logged))}"
        )
