import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from src.errors import UsageError


class StopOnNonFiniteLoss(Callback):
    """Stops training at the first NaN or infinite training loss, naming the step.

    The check never stalls the loop: each step only keeps a reference to its (already computed)
    loss, no tensor op and no host sync; the host reads the kept losses, all in one op, on logging
    steps and before anything is checkpointed (checkpoint callbacks run after this one), so
    `last.ckpt` and `best.ckpt` keep the last good state to resume from (with a lower learning
    rate, say).
    """

    #: Losses kept at most between two checks (when `log_every_n_steps` is 0 or large).
    max_pending = 256

    def __init__(self):
        # (step, epoch, batch, detached loss) of each step since the last check
        self._pending: list[tuple[int, int, int, torch.Tensor]] = []

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        # the step as Lightning counts it: global_step already includes this batch's update
        step = trainer.global_step
        self._pending.append((step, trainer.current_epoch, batch_idx, loss.detach()))
        every = trainer.log_every_n_steps
        if (every and step % every == 0) or len(self._pending) >= self.max_pending:
            self._raise_if_bad(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._raise_if_bad(trainer)

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._raise_if_bad(trainer)

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint) -> None:
        self._raise_if_bad(trainer)  # before the file is written: the good one stays

    def _raise_if_bad(self, trainer: Trainer) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        device = pending[0][3].device
        losses = torch.stack([loss.reshape(()).to(device) for *_, loss in pending])
        finite = torch.isfinite(losses).tolist()  # the one host sync
        if all(finite):
            return
        step, epoch, batch, loss = pending[finite.index(False)]
        last = trainer.checkpoint_callback.last_model_path if trainer.checkpoint_callback else ""
        raise UsageError(
            f"the training loss became {loss.item()} at step {step} (epoch {epoch}, "
            f"batch {batch}); "
            f"last good checkpoint: {last or 'none yet'}. Lower the learning rate or check the "
            "data, then resume"
        )
