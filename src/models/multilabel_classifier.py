from typing import Literal

import torch
import torch.nn.functional as F
from jsonargparse.typing import OpenUnitInterval, PositiveFloat
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryF1Score,
    MultilabelAccuracy,
    MultilabelF1Score,
)

from src.models.research_module import ResearchModule
from src.optim import WarmupCosine


class MultiLabelClassifier(ResearchModule):
    """Binary and multi-label classification: one independent yes/no logit per label.

    The loss is binary cross-entropy on logits; metrics threshold the sigmoid probabilities.
    Binary classification is the one-label case (`num_classes: 1`, targets 0/1). Logs
    `{train,val,test}/loss`, `/acc` (per label, averaged) and `/f1` (macro), and `val/acc_best`.
    `predict` gives the per-label probabilities; `predict_step` adds the 0/1 predictions.

    Args:
        net: The network mapping inputs to logits (B, num_classes).
        num_classes: Number of labels; linked from the datamodule.
        threshold: Probability above which a label counts as present.
        pos_weight: Weight of positive examples in the loss (> 1 favours recall on rare labels).
        optimizer: Builds the optimizer from the trainable parameters (default AdamW, lr 1e-3).
        scheduler: Builds the LR scheduler from the optimizer, or null for a constant LR.
        scheduler_interval: Step the scheduler after every optimizer step or every epoch.
    """

    monitor, monitor_mode, task = "val/acc", "max", "multilabel"

    def __init__(
        self,
        net: nn.Module,
        num_classes: int = 1,
        threshold: OpenUnitInterval = 0.5,
        pos_weight: PositiveFloat = 1.0,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        scheduler: LRSchedulerCallable | None = WarmupCosine,
        scheduler_interval: Literal["step", "epoch"] = "step",
    ):
        super().__init__(net, optimizer, scheduler, scheduler_interval)
        self.num_classes, self.threshold, self.pos_weight = num_classes, threshold, pos_weight
        if num_classes == 1:  # torchmetrics' multi-label metrics need two labels or more
            acc, f1 = BinaryAccuracy(threshold), BinaryF1Score(threshold)
        else:
            acc = MultilabelAccuracy(num_classes, threshold, average="macro")
            f1 = MultilabelF1Score(num_classes, threshold, average="macro")
        metrics = MetricCollection({"acc": acc, "f1": f1})
        self.set_metrics(metrics, train=metrics)

    def step(self, batch: tuple[Tensor, Tensor], stage: str) -> dict[str, Tensor]:
        x, y = batch
        logits = self(x)  # (B, num_classes)
        y = y.view_as(logits)  # binary targets may come as (B,)
        pos_weight = torch.tensor(self.pos_weight, device=logits.device)
        loss = F.binary_cross_entropy_with_logits(logits, y.float(), pos_weight=pos_weight)
        probs = logits.sigmoid()
        if self.num_classes == 1:
            self.accumulate(stage, loss, probs.squeeze(1), y.squeeze(1).long())
        else:
            self.accumulate(stage, loss, probs, y.long())
        return {"loss": loss}  # no "logits": the review callbacks are for single-label classes

    def predict(self, x: Tensor) -> Tensor:
        return self(x).sigmoid()  # (B, num_classes) per-label probabilities

    def predict_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        x = batch[0] if isinstance(batch, list | tuple) else batch
        probs = self.predict(x)
        return {"probs": probs, "preds": (probs > self.threshold).long()}
