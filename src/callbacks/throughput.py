import time

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities.data import extract_batch_size
from torch import Tensor


class Throughput(Callback):
    """Logs `train/samples_per_sec`, training samples per second over all devices.

    Measured over each logging interval (`trainer.log_every_n_steps` batches) and over training
    time only: the time spent in validation is left out. Between logging steps it only counts,
    so it never waits for the GPU or adds a `log` call to a step that does not log. The value goes
    to the loggers only (not `callback_metrics`).
    """

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.samples = self.samples_at_last_log = 0
        self.elapsed = self.elapsed_at_last_log = 0.0
        self.started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        self.samples += batch_size(batch)
        if trainer.global_step % max(1, trainer.log_every_n_steps) != 0:
            return
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()  # else the clock stops before the GPU work does
        now = time.perf_counter()
        self.elapsed, self.started = self.elapsed + now - self.started, now
        seconds = self.elapsed - self.elapsed_at_last_log
        if (
            seconds > 0 and self.samples > self.samples_at_last_log > 0
        ):  # the first interval includes warm-up
            per_device = (self.samples - self.samples_at_last_log) / seconds
            # Straight to the loggers (as LearningRateMonitor does), not `self.log`: ~0.5 ms of
            # Lightning's result bookkeeping a call, for a number only the loggers read.
            metrics = {"train/samples_per_sec": per_device * trainer.world_size}
            step = trainer.fit_loop.epoch_loop._batches_that_stepped  # the trainer's log step
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=step)
        self.samples_at_last_log, self.elapsed_at_last_log = self.samples, self.elapsed

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.started = time.perf_counter()  # the clock restarts where training does


def batch_size(batch) -> int:
    """Samples in a batch of any structure (tensors, tuples, dicts); 0 where none can be told."""
    if isinstance(batch, list | tuple) and batch and isinstance(batch[0], Tensor):
        return len(batch[0])  # the usual (inputs, targets): no walk through the structure
    if isinstance(batch, Tensor):
        return len(batch)
    try:
        return extract_batch_size(batch)
    except Exception:  # no tensor in it at all
        return 0
