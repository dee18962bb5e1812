import os
import random
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint


class ResumableCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` whose files survive a kill and resume a run exactly.

    - Atomic writes: each checkpoint goes to a temporary file beside its target, is flushed to
      disk, then renamed over it, so a kill mid-write never leaves a truncated `last.ckpt` or
      `best.ckpt` (the previous complete one stays).
    - `last.ckpt` is written at every epoch-end save point. Lightning 2.6 writes it only when
      `best.ckpt` improved, which leaves a stale `last.ckpt` and a resume that redoes epochs.
    - `last_every_n_train_steps` also writes `last.ckpt` mid-epoch, so a killed run loses at most
      that many steps; `best.ckpt` is still chosen at validation time only.
    - The training loader's position inside the epoch is restored (see `on_train_start`).
    - The global RNG states (torch, CUDA, numpy, Python) travel in the checkpoint and are put back
      when training restarts, so dropout and augmentation draw what an uninterrupted
      run would have drawn.

    Args:
        last_every_n_train_steps: Also write `last.ckpt` every this many optimizer steps (0: only
            when `last.ckpt` is written anyway, at validation).
    """

    def __init__(self, *args, last_every_n_train_steps: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.last_every_n_train_steps = last_every_n_train_steps
        self._rng_states_to_restore: dict | None = None
        self._last_step_written = -1

    def _save_checkpoint(self, trainer: Trainer, filepath: str) -> None:
        self._write_atomically(trainer, filepath)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(self)

    def _write_atomically(self, trainer: Trainer, filepath: str) -> None:
        target = Path(filepath)
        tmp = target.with_name(f".{target.name}.tmp")
        trainer.save_checkpoint(tmp, self.save_weights_only)  # rank 0 writes, all ranks wait
        if trainer.is_global_zero:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())  # the bytes are on disk before the name points at them
            os.replace(tmp, target)
        trainer.strategy.barrier("atomic_checkpoint")

    def on_train_epoch_end(self, trainer: Trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def on_validation_end(self, trainer: Trainer, pl_module) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def _save_last_if_missed(self, trainer: Trainer) -> None:
        # After the parent's save at this step, _should_skip_saving_checkpoint is true.
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_batch_end(self, trainer: Trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        n, step = self.last_every_n_train_steps, trainer.global_step
        if not (n and self.save_last and step % n == 0 and step != self._last_step_written):
            return
        if trainer.fast_dev_run or trainer.sanity_checking:
            return
        filepath = self.format_checkpoint_name(
            self._monitor_candidates(trainer), self.CHECKPOINT_NAME_LAST
        )
        # Not through _save_checkpoint: that would mark this step as saved and make the
        # validation-time best/last save at the same step skip itself.
        self._write_atomically(trainer, filepath)
        self.last_model_path = filepath
        self._last_step_written = step

    def state_dict(self) -> dict:
        return {**super().state_dict(), "rng_states": _collect_rng_states()}

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        self._rng_states_to_restore = state_dict.pop("rng_states", None)
        super().load_state_dict(state_dict)

    def on_train_start(self, trainer: Trainer, pl_module) -> None:
        # Lightning restores a resumable loader's position only in its first `setup_data`, but a
        # schedule's `estimated_stepping_batches` runs that before the checkpoint's loop state is
        # read, so the position would be dropped and a mid-epoch resume would replay the epoch.
        fit_loop = trainer.fit_loop
        if fit_loop._combined_loader_states_to_load and fit_loop._combined_loader is not None:
            fit_loop._load_combined_loader_states()
        # Here, not at the first batch: augmentation draws from the RNG before that hook runs.
        if self._rng_states_to_restore is not None:
            _set_rng_states(self._rng_states_to_restore)
            self._rng_states_to_restore = None


def _collect_rng_states() -> dict:
    """The global RNG states as tensors and plain Python values, loadable with weights_only."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": random.getstate(),
    }


def _set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
