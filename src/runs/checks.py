"""Options checked before anything is built: this machine's limits, values that train nothing."""

import os
import warnings

import torch
from jsonargparse import Namespace

from src.errors import UsageError


def check_options(config: Namespace) -> None:
    check_hardware(config.trainer)
    check_training_length(config.trainer)
    check_learning_rate(config)


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
    if accelerator == "cpu" and precision in ("16", "16-true", "half", "transformer-engine"):
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
