from typing import Literal

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from src.arg_types import HalfOpenUnitInterval
from src.errors import UsageError
from src.models.research_module import ResearchModule
from src.optim import WarmupCosine


class ImageClassifier(ResearchModule):
    """Multi-class classification around an injected `net` (images, or table rows with `MLPNet`).

    Logs `{train,val,test}/loss` and `/acc`, `{val,test}/f1` (macro), and `val/acc_best`, the best
    validation accuracy so far, which checkpointing follows. Steps also return the logits, for
    the review callbacks (predictions table, confusion matrix). `predict` gives class
    probabilities; `predict_step` adds the predicted labels.

    Args:
        net: The network mapping inputs (B, ...) to logits (B, num_classes).
        num_classes: Number of classes; linked from the datamodule.
        label_smoothing: Label smoothing of the cross-entropy loss, in [0, 1).
        optimizer: Builds the optimizer from the trainable parameters (default AdamW, lr 1e-3).
        scheduler: Builds the LR scheduler from the optimizer, or null for a constant LR.
        scheduler_interval: Step the scheduler after every optimizer step or every epoch.
    """

    monitor, monitor_mode, task = "val/acc", "max", "multiclass"

    def __init__(
        self,
        net: nn.Module,
        num_classes: int = 10,
        label_smoothing: HalfOpenUnitInterval = 0.0,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        scheduler: LRSchedulerCallable | None = WarmupCosine,
        scheduler_interval: Literal["step", "epoch"] = "step",
    ):
        if num_classes < 2:
            raise UsageError(
                f"ImageClassifier needs two or more classes, the data gives {num_classes}: for a "
                "number to predict use --model Regressor, for 0/1 labels --model "
                "MultiLabelClassifier (CSV data: or --data.task multiclass)"
            )
        super().__init__(net, optimizer, scheduler, scheduler_interval)
        self.label_smoothing = label_smoothing
        acc = MulticlassAccuracy(num_classes, average="micro")
        f1 = MulticlassF1Score(num_classes, average="macro")
        # Training batches only get accuracy: each metric update is Python on every step.
        self.set_metrics(
            MetricCollection({"acc": acc, "f1": f1}), train=MetricCollection({"acc": acc.clone()})
        )

    def step(self, batch: tuple[Tensor, Tensor], stage: str) -> dict[str, Tensor]:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        self.accumulate(stage, loss, logits, y)
        if stage == "train":
            return loss  # a dict would be walked by Lightning's loop after every step
        return {"loss": loss, "logits": logits.detach()}  # logits: for the review callbacks

    def predict(self, x: Tensor) -> Tensor:
        return self(x).softmax(dim=-1)  # (B, num_classes) class probabilities

    def predict_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        x = batch[0] if isinstance(batch, list | tuple) else batch
        probs = self.predict(x)
        return {"probs": probs, "preds": probs.argmax(dim=-1)}
