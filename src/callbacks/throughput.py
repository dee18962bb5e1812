import time

import torch
from lightning.fabric.utilities.throughput import Throughput as ThroughputWindow
from lightning.pytorch import Callback, LightningModule, Trainer


class Throughput(Callback):
    """Logs `train/samples_per_sec`, training samples per second over all devices.

    Averaged over a sliding window of batches with Lightning's `Throughput`, and over training
    time only: the time spent in validation is left out.

    Args:
        window_size: Number of batches the rate is averaged over.
    """

    def __init__(self, window_size: int = 10):
        self.window_size = window_size

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.window = ThroughputWindow(window_size=self.window_size, world_size=trainer.world_size)
        self.samples = self.batches = 0
        self.elapsed = 0.0
        self.started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()  # else the clock stops before the GPU work does
        self.samples += len(batch[0]) if isinstance(batch, list | tuple) else len(batch)
        self.batches += 1
        now = time.perf_counter()
        self.elapsed, self.started = self.elapsed + now - self.started, now
        self.window.update(time=self.elapsed, batches=self.batches, samples=self.samples)
        per_device = self.window.compute().get("device/samples_per_sec")
        if per_device is not None:
            pl_module.log("train/samples_per_sec", per_device * trainer.world_size, on_step=True)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.started = time.perf_counter()  # the clock restarts where training does
