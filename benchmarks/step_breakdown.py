"""Where a training step's time goes in `python -m src fit`: wall-clock µs/step per hook,
callback, Lightning loop part and model part, over one epoch's training batches.

    BREAKDOWN_OUT=/tmp/breakdown.json python -m src fit ... \
        --trainer.callbacks+=benchmarks.step_breakdown.StepBreakdown
    python -m benchmarks.step_breakdown /tmp/breakdown.json

Each timed function is wrapped (perf_counter on entry and exit, ~0.3 µs a call); a stack gives
inclusive and exclusive (own) time, so nested parts are not counted twice. Every epoch but the
first (warm-up) is timed on its own, from its first batch's fetch to its last batch's end
(validation excluded); the summary shows each part's median and minimum over those epochs (the
minimum is the steadier number on a shared machine).
"""

import functools
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from lightning.pytorch import Callback
from lightning.pytorch.loops import fetchers
from lightning.pytorch.trainer import call

PER_STEP_HOOKS = (
    "on_train_batch_start", "on_before_backward", "on_after_backward", "on_before_optimizer_step",
    "on_before_zero_grad", "on_train_batch_end",
)  # fmt: skip


class _Timer:
    def __init__(self):
        self.reset()

    def reset(self):
        self.active = False
        self.inclusive = defaultdict(float)
        self.exclusive = defaultdict(float)
        self.calls = defaultdict(int)
        self.stack = []  # [key, start, child time]

    def wrap(self, key_of, fn):
        timer = self

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            if not timer.active:
                return fn(*args, **kwargs)
            key = key_of(args, kwargs) if callable(key_of) else key_of
            frame = [key, time.perf_counter(), 0.0]
            timer.stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - frame[1]
                timer.stack.pop()
                timer.inclusive[key] += elapsed
                timer.exclusive[key] += elapsed - frame[2]
                timer.calls[key] += 1
                if timer.stack:
                    timer.stack[-1][2] += elapsed

        return wrapped


TIMER = _Timer()


def _patch_module_level() -> None:
    call._call_callback_hooks = TIMER.wrap(
        lambda a, k: f"dispatch callbacks: {a[1]}", call._call_callback_hooks
    )
    call._call_lightning_module_hook = TIMER.wrap(
        lambda a, k: f"module hook: {a[1]}", call._call_lightning_module_hook
    )
    call._call_strategy_hook = TIMER.wrap(
        lambda a, k: f"strategy hook: {a[1]}", call._call_strategy_hook
    )
    call._call_lightning_datamodule_hook = TIMER.wrap(
        lambda a, k: f"datamodule hook: {a[1]}", call._call_lightning_datamodule_hook
    )
    cls = fetchers._PrefetchDataFetcher
    cls.__next__ = TIMER.wrap("data fetch (fetcher + loader)", cls.__next__)


class StepBreakdown(Callback):
    def __init__(self):
        self.epochs = []
        self.steps = 0

    def setup(self, trainer, pl_module, stage):
        if stage != "fit":
            return
        _patch_module_level()
        for cb in trainer.callbacks:
            for hook in PER_STEP_HOOKS:
                if getattr(type(cb), hook) is not getattr(Callback, hook):
                    setattr(cb, hook, TIMER.wrap(f"callback {type(cb).__name__}.{hook}",
                                                 getattr(cb, hook)))  # fmt: skip
        lc = trainer._logger_connector
        for name in ("on_batch_start", "on_batch_end", "update_train_step_metrics"):
            setattr(lc, name, TIMER.wrap(f"logger connector: {name}", getattr(lc, name)))
        loop = trainer.fit_loop.epoch_loop
        loop.advance = TIMER.wrap("STEP (advance)", loop.advance)
        loop.on_advance_end = TIMER.wrap("STEP (on_advance_end)", loop.on_advance_end)
        loop._should_check_val_fx = TIMER.wrap("loop: _should_check_val_fx",
                                               loop._should_check_val_fx)  # fmt: skip
        loop.update_lr_schedulers = TIMER.wrap("loop: update_lr_schedulers",
                                               loop.update_lr_schedulers)  # fmt: skip
        loop._save_loggers_on_train_batch_end = TIMER.wrap(
            "loop: _save_loggers_on_train_batch_end", loop._save_loggers_on_train_batch_end
        )
        for logger in trainer.loggers:
            logger.log_metrics = TIMER.wrap(f"logger {type(logger).__name__}.log_metrics",
                                            logger.log_metrics)  # fmt: skip
        pl_module.log = TIMER.wrap("model: self.log", pl_module.log)
        if hasattr(pl_module, "_log_loss"):
            pl_module._log_loss = TIMER.wrap("model: _log_loss", pl_module._log_loss)
        for name in ("train_metrics", "train_loss"):
            metric = getattr(pl_module, name, None)
            if metric is not None:
                object.__setattr__(metric, "update", TIMER.wrap(f"model: {name}.update",
                                                                metric.update))  # fmt: skip
        net = pl_module.net
        object.__setattr__(net, "forward", TIMER.wrap("model: net.forward", net.forward))

    def on_train_start(self, trainer, pl_module):
        opt = trainer.optimizers[0]
        opt.step = TIMER.wrap("optimizer.step (torch, incl. closure)", opt.step)

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch >= 1:
            TIMER.reset()
            TIMER.active = True
            self.steps = 0
            self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if TIMER.active:
            self.steps += 1

    def on_validation_start(self, trainer, pl_module):
        self._stop(trainer)

    def on_train_epoch_end(self, trainer, pl_module):
        self._stop(trainer)

    def _stop(self, trainer):
        if not TIMER.active:
            return
        TIMER.active = False
        steps, seconds = self.steps, time.perf_counter() - self._start
        parts = {
            k: {
                "inclusive_us": 1e6 * TIMER.inclusive[k] / steps,
                "exclusive_us": 1e6 * TIMER.exclusive[k] / steps,
                "calls_per_step": TIMER.calls[k] / steps,
            }
            for k in TIMER.inclusive
        }
        self.epochs.append(
            {"steps": steps, "epoch_us_per_step": 1e6 * seconds / steps, "parts": parts}
        )
        out = Path(os.environ.get("BREAKDOWN_OUT", "breakdown.json"))
        out.write_text(json.dumps({"epochs": self.epochs}, indent=1))


def main() -> None:
    epochs = json.loads(Path(sys.argv[1]).read_text())["epochs"]
    totals = [e["epoch_us_per_step"] for e in epochs]
    print(f"{len(epochs)} epochs of {epochs[0]['steps']} steps: {statistics.median(totals):.0f} "
          f"us/step median, {min(totals):.0f} min (epoch wall)")  # fmt: skip
    keys = {k for e in epochs for k in e["parts"]}

    def values(key, field):
        return [e["parts"].get(key, {}).get(field, 0.0) for e in epochs]

    print(f"{'part':58s} {'incl med':>8s} {'own med':>8s} {'own min':>8s} {'calls':>6s}")
    for key in sorted(keys, key=lambda k: -statistics.median(values(k, "inclusive_us"))):
        incl, own = values(key, "inclusive_us"), values(key, "exclusive_us")
        calls = statistics.median(values(key, "calls_per_step"))
        print(f"{key:58s} {statistics.median(incl):8.1f} {statistics.median(own):8.1f} "
              f"{min(own):8.1f} {calls:6.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
