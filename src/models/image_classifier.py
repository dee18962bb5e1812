from typing import Literal

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MaxMetric, MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from src.models.optimization import configure_optimizers
from src.optim import WarmupCosine


class ImageClassifier(LightningModule):
    """Multi-class image classification around an injected `net`.

    Logs `{train,val,test}/loss` and `/acc`, `{val,test}/f1` (macro), and `val/acc_best`, the best
    validation accuracy so far. Training and validation steps also return the logits, for the
    review callbacks (predictions table, confusion matrix). `predict_step` returns class
    probabilities and predicted labels.

    Args:
        net: The network mapping images (B, C, H, W) to logits (B, num_classes).
        num_classes: Number of classes; linked from the datamodule.
        optimizer: Builds the optimizer from the parameters (default AdamW, lr 1e-3).
        scheduler: Builds the LR scheduler from the optimizer, or null for a constant LR. A
            scheduler with a `total_steps` argument (WarmupCosine, OneCycleLR) gets the trainer's
            estimate of the schedule's length.
        scheduler_interval: Step the scheduler after every optimizer step or every epoch.
        label_smoothing: Label smoothing of the cross-entropy loss, in [0, 1).
    """

    def __init__(
        self,
        net: nn.Module,
        num_classes: int = 10,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        scheduler: LRSchedulerCallable | None = WarmupCosine,
        scheduler_interval: Literal["step", "epoch"] = "step",
        label_smoothing: float = 0.0,
    ):
        super().__init__()
        # Injected modules are stored as their class_path/init_args when built by the CLI, which
        # is what lets `load_from_checkpoint(path)` rebuild the net without a config file.
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.net = net
        self.optimizer = optimizer
        self.scheduler = scheduler
        metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(num_classes, average="micro"),
                "f1": MulticlassF1Score(num_classes, average="macro"),
            }
        )
        # Training batches only get accuracy: each metric update is ~0.2 ms of Python per step.
        self.train_metrics = MetricCollection({"acc": metrics["acc"].clone()}, prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.train_loss = MeanMetric()
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # part of the checkpoint, so a resume keeps the best

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def _shared_step(self, batch: tuple[Tensor, Tensor], stage: str) -> dict[str, Tensor]:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)
        getattr(self, f"{stage}_metrics").update(logits, y)
        if stage != "train":  # epoch-level val/test values are reduced across DDP ranks
            self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=True)
        else:
            # `self.log` costs ~1 ms of Python per call, a lot next to a small model's step: the
            # training loss is logged on the steps the logger writes, its epoch mean kept here.
            self.train_loss.update(loss.detach())
            if (self.global_step + 1) % max(1, self.trainer.log_every_n_steps) == 0:
                self.log("train/loss_step", loss, prog_bar=True)
        return {"loss": loss, "logits": logits.detach()}  # logits: for the review callbacks

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
        self.val_acc_best.update(self._log_metrics("val")["val/acc"])
        self.log("val/acc_best", self.val_acc_best.compute(), prog_bar=True, sync_dist=True)

    def test_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def predict_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        x = batch[0] if isinstance(batch, list | tuple) else batch
        probs = self(x).softmax(dim=-1)
        return {"probs": probs, "preds": probs.argmax(dim=-1)}

    def configure_optimizers(self):
        return configure_optimizers(
            self, self.optimizer, self.scheduler, self.hparams.scheduler_interval
        )
