from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MaxMetric, MeanMetric, MinMetric

from src.models.optimization import configure_optimizers


class SupervisedModule(LightningModule):
    """The training loop every model in `src.models` shares around its injected `net`.

    A subclass builds `train_metrics`, `val_metrics` and `test_metrics` (torchmetrics collections
    prefixed `train/`, `val/`, `test/`) and implements `_shared_step(batch, stage)`: compute the
    loss, update the stage's metrics, hand the loss to `_log_loss`, return `{"loss": ...}`. This
    class logs without stalling the loop (metrics computed once per epoch, the training loss on
    logging steps only) and tracks the best value of `best_metric` as `<best_metric>_best`.
    """

    best_metric: str = "val/acc"
    best_mode: str = "max"

    def __init__(
        self, net: nn.Module, optimizer: OptimizerCallable, scheduler: LRSchedulerCallable | None
    ):
        super().__init__()
        self.net = net
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.train_loss = MeanMetric()
        self.val_best = MaxMetric() if self.best_mode == "max" else MinMetric()
        self.val_best.persistent(True)  # part of the checkpoint, so a resume keeps the best

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def _shared_step(self, batch, stage: str) -> dict[str, Tensor]:
        raise NotImplementedError

    def _log_loss(self, stage: str, loss: Tensor) -> None:
        if stage != "train":  # epoch-level val/test values are reduced across DDP ranks
            self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=True)
            return
        # `self.log` costs ~1 ms of Python per call, a lot next to a small model's step: the
        # training loss is logged on the steps the logger writes, its epoch mean kept here.
        self.train_loss.update(loss.detach())
        if (self.global_step + 1) % max(1, self.trainer.log_every_n_steps) == 0:
            self.log("train/loss_step", loss, prog_bar=True)

    def _log_metrics(self, stage: str) -> dict[str, Tensor]:
        """Computed (and synced across DDP ranks) once per epoch: logging the metric objects
        every step costs milliseconds per step, a copy of their state each time."""
        metrics = getattr(self, f"{stage}_metrics")
        values = metrics.compute()
        metrics.reset()
        self.log_dict(values, prog_bar=stage == "val")
        return values

    def training_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        return self._shared_step(batch, "train")

    def on_train_epoch_end(self) -> None:
        self.log("train/loss_epoch", self.train_loss.compute())
        self.train_loss.reset()
        self._log_metrics("train")

    def validation_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        return self._shared_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # a few batches of an untrained model are no "best"
            self.val_metrics.reset()
            return
        self.val_best.update(self._log_metrics("val")[self.best_metric])
        name = f"{self.best_metric}_best"
        self.log(name, self.val_best.compute(), prog_bar=True, sync_dist=True)

    def test_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def configure_optimizers(self):
        return configure_optimizers(
            self, self.optimizer, self.scheduler, self.hparams.scheduler_interval
        )
