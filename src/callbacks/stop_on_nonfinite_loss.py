import math

from lightning.pytorch import Callback, LightningModule, Trainer

from src.errors import UsageError


class StopOnNonFiniteLoss(Callback):
    """Stops training at the first NaN or infinite training loss, naming the step.

    The error is raised before the step's checkpoints are written, so `last.ckpt` and `best.ckpt`
    keep the last good state to resume from (with a lower learning rate, say).
    """

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is None or math.isfinite(float(loss)):
            return
        last = trainer.checkpoint_callback.last_model_path if trainer.checkpoint_callback else ""
        raise UsageError(
            f"the training loss became {float(loss)} at step {trainer.global_step} "
            f"(epoch {trainer.current_epoch}, batch {batch_idx}); last good checkpoint: "
            f"{last or 'none yet'}. Lower the learning rate or check the data, then resume"
        )
