from lightning.pytorch.callbacks import RichProgressBar


class ThrottledProgressBar(RichProgressBar):
    """Lightning's rich progress bar, redrawn every `refresh_rate` training batches.

    Lightning's own reads every logged metric (a `.item()`, so a GPU sync, each) and redraws
    after every batch whatever `refresh_rate` says: ~1 ms per step, on the training loop's thread.

    Args:
        refresh_rate: Training batches between redraws of the bar and its metrics.
        leave: Keep the finished bars of earlier epochs on screen.
    """

    def __init__(self, refresh_rate: int = 10, leave: bool = False):
        super().__init__(refresh_rate=refresh_rate, leave=leave)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        last = batch_idx + 1 == self.total_train_batches
        if (batch_idx + 1) % self.refresh_rate == 0 or last:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
