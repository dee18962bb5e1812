from typing import Literal

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

from src.models.research_module import ResearchModule
from src.optim import WarmupCosine

_LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}


class Regressor(ResearchModule):
    """Regression of one or more continuous targets with an injected `net`.

    Logs `{train,val,test}/loss`, `/mse`, `/mae` and `/r2`, and `val/mse_best`, which
    checkpointing follows. Metrics are in the units the datamodule gives the targets in
    (standardised, for `CSVDataModule`). `predict_step` returns `{"preds": (B, num_classes)}`.

    Args:
        net: The network mapping inputs to (B, num_classes); `MLPNet` with no hidden layers is
            linear regression.
        num_classes: Number of regression targets, the net's output width (named as in the
            classifiers so the CLI links it from the datamodule's `num_classes` alike).
        loss: Training loss: squared error, absolute error, or Huber (squared near zero,
            absolute for outliers).
        optimizer: Builds the optimizer from the trainable parameters (default AdamW, lr 1e-3).
        scheduler: Builds the LR scheduler from the optimizer, or null for a constant LR.
        scheduler_interval: Step the scheduler after every optimizer step or every epoch.
    """

    monitor, monitor_mode, task = "val/mse", "min", "regression"

    def __init__(
        self,
        net: nn.Module,
        num_classes: int = 1,
        loss: Literal["mse", "mae", "huber"] = "mse",
        optimizer: OptimizerCallable = torch.optim.AdamW,
        scheduler: LRSchedulerCallable | None = WarmupCosine,
        scheduler_interval: Literal["step", "epoch"] = "step",
    ):
        super().__init__(net, optimizer, scheduler, scheduler_interval)
        self.num_classes, self.loss_fn = num_classes, _LOSSES[loss]
        # MSE and MAE over all targets at once; R2 averaged over the targets
        metrics = {"mse": MeanSquaredError(), "mae": MeanAbsoluteError(), "r2": R2Score()}
        self.set_metrics(MetricCollection(metrics), train=MetricCollection(metrics))

    def step(self, batch: tuple[Tensor, Tensor], stage: str) -> dict[str, Tensor]:
        x, y = batch  # (B, ...), (B, num_classes)
        preds = self.predict(x)
        loss = self.loss_fn(preds, y)
        self.accumulate(stage, loss, preds, y)
        return {"loss": loss}

    def update_metrics(self, metrics: MetricCollection, preds: Tensor, y: Tensor) -> None:
        single = y.shape[1] == 1  # R2Score wants (B,) for one target, (B, T) for several
        for name, metric in metrics.items(keep_base=False):
            if name.endswith("r2"):
                metric.update(preds[:, 0] if single else preds, y[:, 0] if single else y)
            else:
                metric.update(preds.flatten(), y.flatten())

    def predict(self, x: Tensor) -> Tensor:
        return self(x).view(-1, self.num_classes)  # (B, targets), as the data scales them
