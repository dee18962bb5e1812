from typing import Literal

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MaxMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from src.models.optimization import configure_optimizers
from src.optim import WarmupCosine


class ImageClassifier(LightningModule):
    """Multi-class image classification around an injected `net`.

    Logs `{train,val,test}/loss`, `/acc` and `/f1` (macro), and `val/acc_best`, the best validation
    accuracy so far. `predict_step` returns class probabilities and predicted labels.

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
        self.train_metrics = metrics.clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # part of the checkpoint, so a resume keeps the best

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def _shared_step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)
        metrics = getattr(self, f"{stage}_metrics")
        metrics.update(logits, y)
        train = stage == "train"  # epoch-level val/test values are reduced across DDP ranks
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
        if self.trainer.sanity_checking:  # a few batches of an untrained model are no "best"
            return
        self.val_acc_best.update(self.val_metrics["acc"].compute())
        self.log("val/acc_best", self.val_acc_best.compute(), prog_bar=True, sync_dist=True)

    def test_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def predict_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        x = batch[0] if isinstance(batch, list | tuple) else batch
        probs = self(x).softmax(dim=-1)
        return {"probs": probs, "preds": probs.argmax(dim=-1)}

    def configure_optimizers(self):
        return configure_optimizers(
            self, self.optimizer, self.scheduler, self.hparams.scheduler_interval
        )
