import inspect
import math

from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from src.errors import UsageError


def configure_optimizers(
    module: LightningModule,
    optimizer: OptimizerCallable,
    scheduler: LRSchedulerCallable | None,
    interval: str,
):
    """The optimizer and LR schedule every model in `src.models` returns from its hook.

    Only trainable parameters are optimized: a frozen backbone stays out of the optimizer until a
    fine-tuning callback unfreezes it and adds it as its own parameter group (with its own LR).
    A scheduler with a `total_steps` argument (WarmupCosine, OneCycleLR) gets the length of the
    trainer's run, in optimizer steps or epochs after `interval`, whether the CLI built it or it
    is the class itself (`ImageClassifier(net)` with a plain `Trainer`).
    """
    optimizer = optimizer([p for p in module.parameters() if p.requires_grad])
    if scheduler is None:
        return optimizer
    kwargs = {}
    if _takes_total_steps(scheduler):
        trainer = module.trainer
        total = trainer.estimated_stepping_batches if interval == "step" else trainer.max_epochs
        if total is None or total < 0 or math.isinf(total):
            raise UsageError(
                "the learning-rate schedule needs the run's length, but it has no end: set "
                "--trainer.max_epochs or --trainer.max_steps (or --model.scheduler null)"
            )
        kwargs["total_steps"] = max(1, int(total))
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler(optimizer, **kwargs), "interval": interval},
    }


def _takes_total_steps(scheduler) -> bool:
    """jsonargparse builds a partial holding every init arg; a class is inspected directly."""
    if "total_steps" in getattr(scheduler, "keywords", {}):
        return True
    try:
        return "total_steps" in inspect.signature(scheduler).parameters
    except (TypeError, ValueError):
        return False
