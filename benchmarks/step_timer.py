"""A callback the benchmark adds to `python -m src fit` runs: training-batch timings, as JSON.

Only the training batches are timed (validation, checkpointing and logging at the end of an epoch
are not), which is what the raw loop in `raw_loop.py` times too.
"""

import json
import os
import time

import torch
from lightning.pytorch import Callback


class StepTimer(Callback):
    """Writes `{first_step_at, epochs: [{seconds, cpu_seconds, samples, steps}]}` to
    `$BENCH_TIMER_OUT`; `cpu_seconds` is the process's CPU time, steadier on a busy machine."""

    def __init__(self):
        self.first_step_at = None
        self.epochs = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.epoch = {"seconds": 0.0, "cpu_seconds": 0.0, "samples": 0, "steps": 0}
        self.start, self.cpu_start = time.perf_counter(), time.process_time()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.first_step_at is None:
            self.first_step_at = time.time()  # wall clock: the parent compares it to its start

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.epoch["samples"] += len(batch[1])
        self.epoch["steps"] += 1
        self.epoch["seconds"] = time.perf_counter() - self.start
        self.epoch["cpu_seconds"] = time.process_time() - self.cpu_start

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()  # the epoch ends when the GPU's work does
            self.epoch["seconds"] = time.perf_counter() - self.start
        self.epochs.append(self.epoch)

    def on_fit_end(self, trainer, pl_module):
        if trainer.global_rank == 0:
            record = {"first_step_at": self.first_step_at, "epochs": self.epochs}
            with open(os.environ["BENCH_TIMER_OUT"], "w") as f:
                json.dump(record, f)
