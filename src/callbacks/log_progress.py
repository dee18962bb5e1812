import time
from datetime import timedelta

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ProgressBar

from src.callbacks.progress_bar import training_loss
from src.callbacks.throughput import batch_size


class LogProgress(ProgressBar):
    """Plain progress lines for output that is not a terminal (nohup, SLURM's log file, CI).

    The CLI uses it instead of the rich bar when stdout is not a terminal. A line every
    `every_n_steps` optimizer steps or `every_seconds` seconds, whichever comes first:

        epoch 2/10  step 1200/6000  loss 0.1234  2345 samples/s  ETA 0:03:12

    and one line per validation with its metrics. Reading the metrics syncs with the GPU, which
    it does only when it prints.

    Args:
        every_n_steps: Print after this many optimizer steps (0: by time only).
        every_seconds: Print at least this often during training.
    """

    def __init__(self, every_n_steps: int = 0, every_seconds: float = 30.0):
        super().__init__()
        self.every_n_steps, self.every_seconds = every_n_steps, every_seconds
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._started = self._last = time.monotonic()
        self._first_step, self._samples = trainer.global_step, 0
        self._printed_step = trainer.global_step

    def on_train_batch_end(self, trainer: Trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._samples += batch_size(batch)
        now, step = time.monotonic(), trainer.global_step
        due_steps = self.every_n_steps and step - self._printed_step >= self.every_n_steps
        if not (due_steps or now - self._last >= self.every_seconds) or not self._enabled:
            return
        self._last, self._printed_step = now, step
        elapsed = now - self._started
        total = trainer.estimated_stepping_batches
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}", f"step {step}/{total}"]
        metrics = trainer.callback_metrics  # read (a device sync) only on the steps that print
        loss = training_loss(metrics)
        if loss is not None:
            parts.append(f"loss {float(metrics[loss]):.4g}")
        if self._samples:
            parts.append(f"{self._samples * trainer.world_size / max(elapsed, 1e-9):.0f} samples/s")
        done = step - self._first_step
        if done > 0 and total != float("inf"):
            eta = timedelta(seconds=round(elapsed / done * (total - step)))
            parts.append(f"ETA {eta}")
        print("  ".join(parts), flush=True)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or not self._enabled or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics  # every logged value, on the progress bar or not
        shown = "  ".join(f"{k} {float(v):.4g}" for k, v in metrics.items() if k.startswith("val/"))
        print(f"epoch {trainer.current_epoch + 1} validation: {shown}", flush=True)
