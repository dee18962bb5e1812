import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class WarmupCosine(LambdaLR):
    """Linear warm-up then cosine decay, as fractions of the optimizer's own learning rate.

    The schedule is relative, so the peak learning rate is written once (`model.optimizer.lr`).
    `total_steps` is filled in by the LightningModule from the trainer's estimate of optimizer steps
    (or epochs, with `scheduler_interval: epoch`); leave it unset in configs.

    Resumed with another length or peak (`--run.resume <run> --trainer.max_epochs 20`, or a new
    `--model.optimizer.lr`), the schedule is recomputed for the new length and peak, and over
    `warmup_fraction` of the remaining steps the learning rate moves linearly from the value the
    run stopped at to the new curve: no jump, and never a step at LR 0 (a finished run's cosine
    ends at 0; its continuation warms up again from there). A resume that changes nothing
    continues exactly.

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
        self.total_steps, self.warmup_fraction = total_steps, warmup_fraction
        self.final_lr_fraction = final_lr_fraction
        # After a resume that changed the schedule: [first step, end step, factor it starts from]
        self.bridge: list | None = None
        super().__init__(optimizer, lambda step: self.factor(step))

    def factor(self, step: int) -> float:
        """The learning rate at `step`, as a fraction of the peak."""
        if self.bridge and step < self.bridge[1]:
            first, end, start = self.bridge
            progress = (step - first + 1) / (end - first + 1)  # > 0 from the first step on
            return start + (self._curve(end) - start) * progress
        return self._curve(step)

    def _curve(self, step: int) -> float:
        warmup = max(1, round(self.total_steps * self.warmup_fraction))
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, self.total_steps - warmup))
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.final_lr_fraction + (1 - self.final_lr_fraction) * cosine

    def _shape(self) -> tuple:
        return (self.total_steps, self.warmup_fraction, self.final_lr_fraction, list(self.base_lrs))

    def load_state_dict(self, state_dict: dict) -> None:
        """Progress from the checkpoint; the schedule's shape and peak from this run's config."""
        saved = (
            state_dict.get("total_steps"),
            state_dict.get("warmup_fraction"),
            state_dict.get("final_lr_fraction"),
            list(state_dict.get("base_lrs", [])),
        )
        step = state_dict["last_epoch"]
        self.last_epoch = step
        self._step_count = state_dict.get("_step_count", step + 1)
        if saved == self._shape():
            self.bridge = state_dict.get("bridge")
        else:  # from the learning rate the run stopped at to the new curve
            start = state_dict["_last_lr"][0] / self.base_lrs[0] if self.base_lrs[0] else 0.0
            remaining = max(1, self.total_steps - step)
            self.bridge = [step, step + max(1, round(self.warmup_fraction * remaining)), start]
        self._last_lr = [base * self.factor(step) for base in self.base_lrs]
        for group, lr, base in zip(
            self.optimizer.param_groups, self._last_lr, self.base_lrs, strict=False
        ):  # groups added later (a backbone unfrozen by fine-tuning) keep their own LR
            group["lr"], group["initial_lr"] = lr, base
