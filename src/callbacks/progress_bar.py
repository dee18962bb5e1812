from lightning.pytorch.callbacks import RichProgressBar


def training_loss(metrics) -> str | None:
    """The training loss's name among logged `metrics`: `train/loss_step` where logged, else the
    first `train/...loss...` (None: no training loss logged)."""
    losses = [k for k in metrics if k.startswith("train/") and "loss" in k]
    return "train/loss_step" if "train/loss_step" in metrics else next(iter(losses), None)


class ThrottledProgressBar(RichProgressBar):
    """Lightning's rich progress bar, redrawn every `refresh_rate` training batches.

    Lightning's own reads every logged metric (a `.item()`, so a GPU sync, each) and redraws
    after every batch whatever `refresh_rate` says: ~1 ms per step, on the training loop's thread.
    The training loss is shown though the models log it without `prog_bar` (Lightning reads every
    `prog_bar` value after every step): it is read from the logged metrics when the bar redraws.

    Args:
        refresh_rate: Training batches between redraws of the bar and its metrics.
        leave: Keep the finished bars of earlier epochs on screen.
    """

    def __init__(self, refresh_rate: int = 10, leave: bool = False):
        super().__init__(refresh_rate=refresh_rate, leave=leave)

    def get_metrics(self, trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        loss = training_loss(trainer.callback_metrics)
        if loss is not None and loss not in metrics:
            metrics[loss] = trainer.callback_metrics[loss].item()  # a sync, on redraws only
        return metrics

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        last = batch_idx + 1 == self.total_train_batches
        if (batch_idx + 1) % self.refresh_rate == 0 or last:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
