from typing import Literal

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, MinMetric, R2Score

from src.models.optimization import configure_optimizers
from src.optim import WarmupCosine

_LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}


class Regressor(LightningModule):
    """Regression of one or more continuous targets with an injected `net`.

    Logs `{train,val,test}/loss`, `/mse`, `/mae` and `/r2`, and `val/mse_best`. Metrics are in the
    units the datamodule gives the targets in (standardised, for `CSVDataModule`).
    `predict_step` returns `{"preds": (B, num_classes)}`.

    Args:
        net: The network mapping inputs to (B, num_classes); `MLPNet` with no hidden layers is
            linear regression.
        num_classes: Number of regression targets, the net's output width (named as in the
            classifiers so the CLI links it from the datamodule's `num_classes` alike).
        loss: Training loss: squared error, absolute error, or Huber (squared near zero,
            absolute for outliers).
        optimizer: Builds the optimizer from the parameters (default AdamW, lr 1e-3).
        scheduler: Builds the LR scheduler from the optimizer, or null for a constant LR.
        scheduler_interval: Step the scheduler after every optimizer step or every epoch.
    """

    def __init__(
        self,
        net: nn.Module,
        num_classes: int = 1,
        loss: Literal["mse", "mae", "huber"] = "mse",
        optimizer: OptimizerCallable = torch.optim.AdamW,
        scheduler: LRSchedulerCallable | None = WarmupCosine,
        scheduler_interval: Literal["step", "epoch"] = "step",
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.net = net
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.loss_fn = _LOSSES[loss]
        metrics = MetricCollection(
            {
                "mse": MeanSquaredError(),
                "mae": MeanAbsoluteError(),
                "r2": R2Score(),  # averaged over targets
            }
        )
        self.train_metrics = metrics.clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.val_mse_best = MinMetric()
        self.val_mse_best.persistent(True)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def _shared_step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        x, y = batch  # (B, ...), (B, num_classes)
        preds = self(x).view(-1, self.hparams.num_classes)
        loss = self.loss_fn(preds, y)
        metrics = getattr(self, f"{stage}_metrics")
        single = y.shape[1] == 1  # R2Score wants (B,) for one target, (B, T) for several
        for name, metric in metrics.items(False):
            if name.endswith("r2"):
                metric.update(preds[:, 0] if single else preds, y[:, 0] if single else y)
            else:  # MSE and MAE over all targets at once
                metric.update(preds.flatten(), y.flatten())
        train = stage == "train"
        self.log(
            f"{stage}/loss", loss, on_step=train, on_epoch=True, prog_bar=True, sync_dist=not train
        )
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage == "val")
        return loss

    def training_step(self, batch, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        self.val_mse_best.update(self.val_metrics["mse"].compute())
        self.log("val/mse_best", self.val_mse_best.compute(), sync_dist=True)

    def test_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def predict_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        x = batch[0] if isinstance(batch, list | tuple) else batch
        return {"preds": self(x)}

    def configure_optimizers(self):
        return configure_optimizers(
            self, self.optimizer, self.scheduler, self.hparams.scheduler_interval
        )
