from typing import Literal

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from src.arg_types import HalfOpenUnitInterval
from src.errors import UsageError
from src.models.supervised import SupervisedModule
from src.optim import WarmupCosine


class ImageClassifier(SupervisedModule):
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
        label_smoothing: HalfOpenUnitInterval = 0.0,
    ):
        if num_classes < 2:
            raise UsageError(
                f"ImageClassifier needs two or more classes, the data gives {num_classes}: for a "
                "number to predict use --model Regressor, for 0/1 labels --model "
                "MultiLabelClassifier (CSV data: or --data.task multiclass)"
            )
        super().__init__(net, optimizer, scheduler)
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

    def _shared_step(self, batch: tuple[Tensor, Tensor], stage: str) -> dict[str, Tensor]:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)
        getattr(self, f"{stage}_metrics").update(logits, y)
        self._log_loss(stage, loss)
        return {"loss": loss, "logits": logits.detach()}  # logits: for the review callbacks

    def predict(self, x: Tensor) -> Tensor:
        return self(x).softmax(dim=-1)  # (B, num_classes) class probabilities

    def predict_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        x = batch[0] if isinstance(batch, list | tuple) else batch
        probs = self.predict(x)
        return {"probs": probs, "preds": probs.argmax(dim=-1)}
