from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable


def configure_optimizers(
    module: LightningModule,
    optimizer: OptimizerCallable,
    scheduler: LRSchedulerCallable | None,
    interval: str,
):
    """The optimizer and LR schedule every model in `src.models` returns from its hook.

    Only trainable parameters are optimized: a frozen backbone stays out of the optimizer until a
    fine-tuning callback unfreezes it and adds it as its own parameter group (with its own LR).
    A scheduler with a `total_steps` argument (WarmupCosine, OneCycleLR) gets the trainer's
    estimate of the schedule's length, in optimizer steps or epochs after `interval`.
    """
    optimizer = optimizer([p for p in module.parameters() if p.requires_grad])
    if scheduler is None:
        return optimizer
    kwargs = {}
    if "total_steps" in getattr(scheduler, "keywords", {}):
        total = module.trainer.estimated_stepping_batches
        kwargs["total_steps"] = int(total if interval == "step" else module.trainer.max_epochs)
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler(optimizer, **kwargs), "interval": interval},
    }
