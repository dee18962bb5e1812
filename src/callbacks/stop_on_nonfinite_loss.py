import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from src.errors import UsageError


class StopOnNonFiniteLoss(Callback):
    """Stops training at the first NaN or infinite training loss, naming the step.

    The check never stalls the loop: each step only records, on the loss's device, where the first
    non-finite loss happened; the host reads that record on logging steps and before anything is
    checkpointed (checkpoint callbacks run after this one), so `last.ckpt` and `best.ckpt` keep
    the last good state to resume from (with a lower learning rate, say).
    """

    def __init__(self):
        # (step, epoch, batch, loss) of the first non-finite loss; step -1 while all are finite
        self._first_bad: torch.Tensor | None = None

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        if self._first_bad is None or self._first_bad.device != loss.device:
            self._first_bad = torch.full((4,), -1.0, dtype=torch.float64, device=loss.device)
        # the step as Lightning counts it: global_step already includes this batch's update
        where = torch.stack(
            [
                torch.tensor(float(trainer.global_step), device=loss.device),
                torch.tensor(float(trainer.current_epoch), device=loss.device),
                torch.tensor(float(batch_idx), device=loss.device),
                loss.detach().double(),
            ]
        )
        is_first = (self._first_bad[0] < 0) & ~torch.isfinite(loss.detach())
        self._first_bad = torch.where(is_first, where, self._first_bad)
        if trainer.global_step % max(1, trainer.log_every_n_steps) == 0:
            self._raise_if_bad(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._raise_if_bad(trainer)

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._raise_if_bad(trainer)

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint) -> None:
        self._raise_if_bad(trainer)  # before the file is written: the good one stays

    def _raise_if_bad(self, trainer: Trainer) -> None:
        if self._first_bad is None:
            return
        step, epoch, batch, loss = self._first_bad.tolist()
        if step < 0:
            return
        last = trainer.checkpoint_callback.last_model_path if trainer.checkpoint_callback else ""
        raise UsageError(
            f"the training loss became {loss} at step {int(step)} (epoch {int(epoch)}, "
            f"batch {int(batch)}); "
            f"last good checkpoint: {last or 'none yet'}. Lower the learning rate or check the "
            "data, then resume"
        )
