"""The default callbacks, the model and Lightning's loop make no host sync on a training step that
logs nothing: a GPU runs ahead of Python between logging steps.

On a CPU nothing syncs, so what would sync on a GPU is counted instead: ATen ops that read a value
back (`.item()`, `bool()`, `float()`: `_local_scalar_dense`) or size an output by its data
(`unique`, `nonzero`, boolean masks), `.tolist()`, `.cpu()`, `.numpy()`, and tensors built from host
data for a device (`torch.tensor(x, device=...)`, a blocking copy to a GPU). Each is counted from
one training batch's start to the next's, on the steps that do not log.
"""

import sys
import traceback
from collections import Counter
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback
from torch.utils._python_dispatch import TorchDispatchMode

from src.runs.lifecycle import RunLifecycle
from tests.conftest import run_cli

# Ops that wait for a GPU's queue: a value read back, or an output sized by the data.
SYNC_OPS = {
    "aten._local_scalar_dense", "aten.is_nonzero", "aten.nonzero", "aten.nonzero_static",
    "aten._unique2", "aten.unique_dim", "aten.unique_consecutive", "aten.masked_select",
    "aten.repeat_interleave", "aten.argwhere",
}  # fmt: skip
METHODS = ("tolist", "cpu", "numpy")
ROOT = Path(__file__).resolve().parent.parent


def _where() -> str:
    """Where it happened: the innermost Lightning or torchmetrics frames, then the project's."""
    library: list[str] = []
    for frame in reversed(traceback.extract_stack()):
        path = Path(frame.filename)
        if "torch" in path.parts and "optim" in path.parts:
            return ""  # the optimizers' step counters live on the CPU (not capturable): no sync
        if path == Path(__file__):
            continue
        if ROOT in path.parents and "src" in path.parts:
            here = f"{path.relative_to(ROOT)}:{frame.lineno} {frame.name}"
            return " <- ".join([*library[:3], here])
        for package in ("lightning", "torchmetrics"):
            if package in path.parts:
                rel = "/".join(path.parts[path.parts.index(package) :])
                library.append(f"{rel}:{frame.lineno} {frame.name}")
    return " <- ".join(library[:3]) or "?"


class _Counting(TorchDispatchMode):
    def __init__(self, seen: Counter):
        super().__init__()
        self.seen = seen

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket.__name__)
        if f"aten.{name}" in SYNC_OPS and (where := _where()):
            self.seen[(f"aten.{name}", where)] += 1
        return func(*args, **(kwargs or {}))


class CountHostSyncs(Callback):
    """Counts would-be host syncs on each training step that logs nothing."""

    def __init__(self):
        self.seen: Counter = Counter()
        self.steps = 0
        self._mode = None
        self._patched = {}

    def _start(self):
        self._mode = _Counting(self.seen)
        self._mode.__enter__()
        for name in METHODS:
            original = getattr(torch.Tensor, name)
            self._patched[name] = original

            def counted(t, *a, _original=original, _name=name, **k):
                if where := _where():
                    self.seen[(f"Tensor.{_name}", where)] += 1
                return _original(t, *a, **k)

            setattr(torch.Tensor, name, counted)
        tensor = torch.tensor
        self._patched["torch.tensor"] = tensor

        def counted_tensor(data, *a, **k):
            device = k.get("device")
            if device is not None and not isinstance(data, torch.Tensor) and (where := _where()):
                self.seen[("torch.tensor(host data, device=...)", where)] += 1
            return tensor(data, *a, **k)

        torch.tensor = counted_tensor

    def _stop(self):
        if self._mode is None:
            return
        self._mode.__exit__(None, None, None)
        self._mode = None
        torch.tensor = self._patched.pop("torch.tensor")
        for name, original in self._patched.items():
            setattr(torch.Tensor, name, original)
        self._patched = {}

    def setup(self, trainer, pl_module, stage):
        trainer.callbacks.remove(self)  # first: a step's window closes before any other hook
        trainer.callbacks.insert(0, self)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._stop()  # the previous step ends here: its end hooks and this batch's fetch counted
        every = trainer.log_every_n_steps
        logs = (trainer.global_step + 1) % every == 0  # the step about to run, as Lightning counts
        last = batch_idx + 1 >= trainer.num_training_batches  # the epoch's end reads the metrics
        if trainer.current_epoch > 0 or batch_idx < every:
            return  # after the first logging step: Lightning's own first-step work is done
        if not logs and not last:
            self.steps += 1
            self._start()

    def on_train_epoch_end(self, trainer, pl_module):
        self._stop()

    def on_validation_start(self, trainer, pl_module):
        self._stop()

    def teardown(self, trainer, pl_module, stage):
        self._stop()


@pytest.mark.parametrize("terminal", [False, True], ids=["LogProgress", "ThrottledProgressBar"])
def test_default_callbacks_make_no_host_sync_on_a_step_that_logs_nothing(
    terminal, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)  # which bar the CLI picks
    counter = CountHostSyncs()
    lifecycle_callbacks = RunLifecycle.callbacks
    monkeypatch.setattr(RunLifecycle, "callbacks", lambda lc: [*lifecycle_callbacks(lc), counter])
    run_cli(
        ["fit", "--run.root", str(tmp_path), "--run.test_after_fit", "false",
         "--trainer.logger", "false", "--trainer.max_epochs", "1",
         "--trainer.limit_train_batches", "24", "--trainer.limit_val_batches", "2",
         "--trainer.log_every_n_steps", "5", "--data.batch_size", "16"],
        capsys,
    )  # fmt: skip
    assert counter.steps >= 10
    seen = counter.seen.items()
    per_step = {f"{kind} at {where}": n / counter.steps for (kind, where), n in seen}
    assert not per_step, "host syncs per non-logging step:\n" + "\n".join(
        f"  {n:.2f}  {what}" for what, n in sorted(per_step.items(), key=lambda kv: -kv[1])
    )
