import random
from pathlib import Path

import numpy as np
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from src.plugins import AtomicCheckpointIO


class ResumableCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` whose files survive a kill and resume a run exactly.

    - Atomic writes: the trainer's checkpoint writer becomes `AtomicCheckpointIO` (temporary
      file, fsync, rename), so a kill mid-write never leaves a truncated `last.ckpt` or
      `best.ckpt`.
    - `last.ckpt` is written at the end of every epoch, after its validation, where Lightning
      itself saves by default (Lightning 2.6 writes it only when the best checkpoint improved,
      which leaves a stale `last.ckpt` and a resume that redoes epochs), and after validations
      in the middle of an epoch (`--trainer.val_check_interval` below 1); `write_last(trainer)`
      writes it now, for a stop between those.
    - `last_every_n_train_steps` also writes `last.ckpt` mid-epoch, so a killed run loses at most
      that many steps; `best.ckpt` is still chosen at validation time only.
    - The training loader's position inside the epoch is restored (see `on_train_start`).
    - The global RNG states (torch, CUDA, numpy, Python) travel in the checkpoint and are put back
      when training restarts, so dropout and augmentation draw what an uninterrupted
      run would have drawn.

    Args:
        save_last: Keep `last.ckpt`, the state to resume from.
        last_every_n_train_steps: Also write `last.ckpt` every this many optimizer steps (0: only
            at validation and epoch ends).
    """

    def __init__(self, *args, save_last: bool = True, last_every_n_train_steps: int = 0, **kwargs):
        super().__init__(*args, save_last=False, **kwargs)  # `last.ckpt` is written here instead
        self.keep_last, self.last_every_n_train_steps = save_last, last_every_n_train_steps
        self._rng_states_to_restore: dict | None = None
        self._last_step_written = -1
        self.best_step = -1  # the global step whose weights best.ckpt holds, -1: not this process

    def best_is_in_memory(self, trainer: Trainer) -> bool:
        """Whether the model's weights now are those of the best checkpoint (it was written at
        this very step), so a test after fit can use them without reading the file again."""
        return self.best_step == trainer.global_step and bool(self.best_model_path)

    def _best(self) -> tuple:
        return self.best_model_path, self.best_model_score

    def _note_best(self, trainer: Trainer, before: tuple) -> None:
        path, score = self._best()
        if path != before[0] or score is not before[1]:  # a new best is a new score tensor
            self.best_step = trainer.global_step

    def setup(self, trainer: Trainer, pl_module, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # Lightning's default
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()

    def write_last(self, trainer: Trainer) -> None:
        """Write `last.ckpt` for the current step (every rank calls it; rank 0 writes)."""
        path = str(Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}")
        self.last_model_path = path  # before saving: it is part of the saved state
        trainer.save_checkpoint(path, self.save_weights_only)
        self._last_step_written = trainer.global_step
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(self)  # W&B uploads it as `latest` when online

    def _may_write_last(self, trainer: Trainer) -> bool:
        fitting = trainer.state.fn == "fit" and not trainer.sanity_checking
        return self.keep_last and fitting and not trainer.fast_dev_run

    def on_train_epoch_end(self, trainer: Trainer, pl_module) -> None:
        before = self._best()
        super().on_train_epoch_end(trainer, pl_module)  # best.ckpt first: last.ckpt holds the best
        self._note_best(trainer, before)
        if self._may_write_last(trainer):
            self.write_last(trainer)

    def on_validation_end(self, trainer: Trainer, pl_module) -> None:
        before = self._best()
        super().on_validation_end(trainer, pl_module)
        self._note_best(trainer, before)
        mid_epoch = trainer.val_check_interval != 1.0  # an epoch-end validation: see above
        if mid_epoch and self._may_write_last(trainer) and self._not_yet(trainer):
            self.write_last(trainer)

    def on_train_batch_end(self, trainer: Trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        n, step = self.last_every_n_train_steps, trainer.global_step
        last_batch = batch_idx + 1 >= trainer.num_training_batches  # the epoch's end writes it
        due = n and step % n == 0 and not last_batch and self._not_yet(trainer)
        if due and self._may_write_last(trainer):
            self.write_last(trainer)

    def _not_yet(self, trainer: Trainer) -> bool:
        return self._last_step_written != trainer.global_step

    def state_dict(self) -> dict:
        return {**super().state_dict(), "rng_states": _collect_rng_states()}

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        self._rng_states_to_restore = state_dict.pop("rng_states", None)
        super().load_state_dict(state_dict)

    def on_train_start(self, trainer: Trainer, pl_module) -> None:
        super().on_train_start(trainer, pl_module)
        # Lightning restores a resumable loader's position only in its first `setup_data`, but a
        # schedule's `estimated_stepping_batches` runs that before the checkpoint's loop state is
        # read, so the position would be dropped and a mid-epoch resume would replay the epoch
        # (Lightning-AI/pytorch-lightning#20550, open in 2.6: hence lightning is pinned to 2.6.x).
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
