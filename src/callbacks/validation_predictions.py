from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor

from src.plots import for_display, plot_confusion_matrix, plot_predictions_grid


class ValidationPredictions(Callback):
    """Shows what the model gets right and wrong on the validation split, once at the end.

    After the last validation epoch of `fit` (or after `validate`) it writes
    `predictions.png` (the first samples, then the most confident mistakes) and
    `confusion_matrix.png` into the run directory, and logs the same to W&B as a table
    (`val/predictions`: image, true and predicted label, confidence) and a confusion matrix
    (`val/confusion_matrix`). Needs `validation_step` to return the logits (`{"logits": ...}`).
    Under DDP it shows rank 0's share of the split.

    Args:
        num_samples: Validation samples shown as they come (a fixed, unbiased sample).
        num_mistakes: Misclassified samples shown, the most confident first.
    """

    def __init__(self, num_samples: int = 24, num_mistakes: int = 16):
        self.num_samples = num_samples
        self.num_mistakes = num_mistakes

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.targets, self.preds = [], []
        self.samples = self.mistakes = None  # (images, targets, preds, confidences)

    def on_validation_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        if trainer.sanity_checking or not isinstance(outputs, dict) or "logits" not in outputs:
            return
        images, targets = batch[0].detach(), batch[1].detach()
        confidences, preds = outputs["logits"].detach().float().softmax(-1).max(-1)
        self.targets.append(targets.cpu())
        self.preds.append(preds.cpu())
        if images.ndim != 4:  # not images (tabular features): the confusion matrix only
            return
        batch_rows = (images, targets, preds, confidences)
        if self.samples is None or len(self.samples[0]) < self.num_samples:
            self.samples = _first(_cat(self.samples, batch_rows), self.num_samples)
        wrong = preds != targets
        mistakes = _cat(self.mistakes, tuple(t[wrong] for t in batch_rows))
        self.mistakes = _most_confident(mistakes, self.num_mistakes)  # only k kept per batch

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._report(trainer)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.state.fn == "validate":  # in fit, on_fit_end reports the last epoch
            self._report(trainer)

    @rank_zero_only
    def _report(self, trainer: Trainer) -> None:
        if not getattr(self, "targets", None):
            return
        targets, preds = torch.cat(self.targets), torch.cat(self.preds)
        datamodule = trainer.datamodule
        classes = list(getattr(datamodule, "classes", ()) or range(int(targets.max()) + 1))
        classes = [str(c) for c in classes]
        sections = {
            "validation samples": _to_cpu(self.samples, datamodule),
            "most confident mistakes": _to_cpu(self.mistakes, datamodule),
        }
        run_dir = Path(trainer.default_root_dir)
        if self.samples is None:
            sections = {}
        else:
            plot_predictions_grid(sections, classes, run_dir / "predictions.png")
        plot_confusion_matrix(targets, preds, classes, run_dir / "confusion_matrix.png", "val")
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                _log_to_wandb(logger, sections, classes, targets, preds, trainer.global_step)


def _log_to_wandb(logger, sections, classes, targets, preds, step: int) -> None:
    import wandb

    matrix = wandb.plot.confusion_matrix(
        y_true=targets.tolist(), preds=preds.tolist(), class_names=classes,
        title="val confusion matrix",
    )  # fmt: skip
    record = {"val/confusion_matrix": matrix, "trainer/global_step": step}
    if sections:
        table = wandb.Table(columns=["image", "true", "predicted", "confidence", "kind"])
        for kind, (images, trues, predicted, confidences) in sections.items():
            for image, true, pred, conf in zip(images, trues, predicted, confidences, strict=True):
                pixels = image.permute(1, 2, 0).squeeze(-1).numpy() * 255
                table.add_data(
                    wandb.Image(pixels.round().astype("uint8")),
                    classes[true], classes[pred], float(conf), kind,
                )  # fmt: skip
        record["val/predictions"] = table
    logger.experiment.log(record)


def _cat(a, b):
    return b if a is None else tuple(torch.cat([x, y]) for x, y in zip(a, b, strict=True))


def _first(rows, k: int):
    return tuple(t[:k] for t in rows)


def _most_confident(rows, k: int):
    order = rows[3].argsort(descending=True)[:k]
    return tuple(t[order] for t in rows)


def _to_cpu(rows, datamodule) -> tuple[Tensor, ...]:
    if rows is None:
        return (torch.empty(0, 1, 1, 1), *(torch.empty(0) for _ in range(3)))
    images, *rest = (t.cpu() for t in rows)
    mean, std = getattr(datamodule, "mean", None), getattr(datamodule, "std", None)
    return (for_display(images, mean, std), *rest)
