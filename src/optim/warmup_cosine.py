import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class WarmupCosine(LambdaLR):
    """Linear warm-up then cosine decay, as fractions of the optimizer's own learning rate.

    The schedule is relative, so the peak learning rate is written once (`model.optimizer.lr`).
    `total_steps` is filled in by the LightningModule from the trainer's estimate of optimizer steps
    (or epochs, with `scheduler_interval: epoch`); leave it unset in configs.

    Args:
        optimizer: The optimizer whose learning rate is scheduled.
        total_steps: Length of the schedule in scheduler steps.
        warmup_fraction: Fraction of the schedule spent warming up linearly from zero.
        final_lr_fraction: Learning rate at the end, as a fraction of the peak.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        total_steps: int = 1000,
        warmup_fraction: float = 0.05,
        final_lr_fraction: float = 0.0,
    ):
        warmup = max(1, round(total_steps * warmup_fraction))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
            return final_lr_fraction + (1 - final_lr_fraction) * 0.5 * (
                1 + math.cos(math.pi * progress)
            )

        super().__init__(optimizer, factor)
