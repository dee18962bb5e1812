"""The floor of Lightning's own loop: a bare `Trainer` (no logger, checkpoint, progress bar,
summary or callback) fitting `raw_loop.py --net linear --no-augment`'s model on the same data
path (the datamodule's in-memory loader and batched normalisation), same optimizer and schedule.

    python -m benchmarks.lightning_floor --epochs 4 --batches 300 [--skip-noop-hooks]

Timed by the module's own hooks (no callback), as `step_timer.py` times `fit`; writes the same
JSON to `$BENCH_TIMER_OUT`.
"""

import argparse
import json
import os
import time

import lightning as L
import torch
import torch.nn.functional as F

from src.data import MNISTDataModule
from src.nets import MLPNet
from src.optim import WarmupCosine


class Bare(L.LightningModule):
    def __init__(self, total_steps: int, lr: float):
        super().__init__()
        self.net = MLPNet(hidden_dims=[])
        self.total_steps, self.lr = total_steps, lr
        self.epochs = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr)
        scheduler = WarmupCosine(optimizer, total_steps=self.total_steps)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def on_train_epoch_start(self):
        self._t, self._cpu = time.perf_counter(), time.process_time()
        self.epochs.append({"seconds": 0.0, "cpu_seconds": 0.0, "steps": 0, "samples": 0})

    def on_train_batch_end(self, outputs, batch, batch_idx):  # as step_timer.py times ours
        epoch = self.epochs[-1]
        epoch["seconds"] = time.perf_counter() - self._t
        epoch["cpu_seconds"] = time.process_time() - self._cpu
        epoch["steps"] += 1
        epoch["samples"] += len(batch[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--skip-noop-hooks", action="store_true")
    parser.add_argument("--breakdown", action="store_true", help="add step_breakdown's callback")
    args = parser.parse_args()
    L.seed_everything(42, verbose=False)
    model = Bare(args.epochs * args.batches, args.lr)
    callbacks = []
    if args.skip_noop_hooks:
        from lightning.pytorch import Callback

        from src.runs.hooks import skip_noop_hooks

        class Skip(Callback):
            def setup(self, trainer, pl_module, stage):
                skip_noop_hooks(trainer, pl_module)  # its own hooks too: it costs nothing

        callbacks.append(Skip())
    if args.breakdown:
        from benchmarks.step_breakdown import StepBreakdown

        callbacks.append(StepBreakdown())
    trainer = L.Trainer(
        max_epochs=args.epochs, limit_train_batches=args.batches, limit_val_batches=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=callbacks, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(model, datamodule=MNISTDataModule(data_dir=args.data_dir))
    with open(os.environ["BENCH_TIMER_OUT"], "w") as f:
        json.dump({"first_step_at": None, "epochs": model.epochs}, f)


if __name__ == "__main__":
    main()
