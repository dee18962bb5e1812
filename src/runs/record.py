import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import EarlyStopping

from src.errors import UsageError
from src.loggers.appending_csv import AppendingCSVLogger
from src.runs.checks import check_monitor
from src.runs.hooks import skip_noop_hooks
from src.runs.status import Heartbeat, read_status, write_status


class RunRecord(Callback):
    """Keeps `status.yaml` current and makes a resumed run continue its own record.

    - At the start of the run (data and model set up): Lightning's held start-up lines, the run
      directory, a `running` status with the command and the launcher's job, a heartbeat.
    - Every checkpoint flushes `metrics.csv` first, and a resume drops the rows of the steps it
      trains again (logged after its checkpoint, before a crash): each step is in the file once.
    - A resume trains with the options it was given: the optimizer's hyperparameters come from
      this run's config, not the checkpoint's (the schedule's: see `WarmupCosine`), and so does
      early stopping's patience, which Lightning would restore from the checkpoint.
    """

    def __init__(self, lifecycle):
        self.lifecycle = lifecycle
        self.started = self.trained = False
        self._replay_from: int | None = None
        self._patience: dict[int, int] = {}
        self._heartbeat: Heartbeat | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self.lifecycle.trainer = trainer
        skip_noop_hooks(trainer, pl_module)  # every callback is attached by now
        self._patience = {id(c): c.patience for c in trainer.callbacks if _stops_early(c)}

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        checkpoint = trainer.checkpoint_callback  # after the model's own checks of its data
        check_monitor(pl_module, getattr(checkpoint, "monitor", None))
        self._start(trainer)

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.state.fn == "validate":
            self._start(trainer)

    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start(trainer)

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start(trainer)

    def _start(self, trainer: Trainer) -> None:
        if self.started:  # the test after fit belongs to the same run
            return
        self.started = True
        lifecycle = self.lifecycle
        lifecycle.logs.release()
        if not trainer.is_global_zero:
            return
        for note in lifecycle.notes:
            print(note, flush=True)
        print(f"Run directory: {lifecycle.run_dir}", flush=True)
        attempts = (read_status(lifecycle.run_dir) or {}).get("attempts", 0) + 1
        write_status(
            lifecycle.run_dir, "running", subcommand=lifecycle.subcommand, attempts=attempts,
            command=lifecycle.command, job=lifecycle.launch.job,
            global_step=trainer.global_step, epoch=trainer.current_epoch,
        )  # fmt: skip
        self._heartbeat = Heartbeat(lifecycle.run_dir).start()

    def stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint) -> None:
        if trainer.state.fn != "fit":
            return
        saved = checkpoint.get("run_record", {})
        self._replay_from = checkpoint.get("global_step")
        progress = checkpoint.get("loops", {}).get("fit_loop", {})
        progress = progress.get("epoch_loop.batch_progress", {})
        mid_epoch = progress.get("current", {}).get("completed") and not progress["is_last_batch"]
        if mid_epoch and saved.get("world_size", trainer.world_size) != trainer.world_size:
            raise UsageError(
                f"the run stopped mid-epoch on {saved['world_size']} processes and would resume on "
                f"{trainer.world_size}: its loader position is per process. Resume it with the "
                "same --trainer.devices and --trainer.num_nodes"
            )
        _configured_optimizer_wins(pl_module, checkpoint)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for callback in trainer.callbacks:
            if id(callback) in self._patience:
                callback.patience = self._patience[id(callback)]
        if self._replay_from is not None:
            for logger in _csv_loggers(trainer):
                logger.drop_from_step(self._replay_from)

    def on_train_batch_end(self, trainer: Trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.trained = True

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint) -> None:
        for logger in _csv_loggers(trainer):
            logger.save()  # what the checkpoint has seen is on disk, should the process die
        checkpoint["run_record"] = {"world_size": trainer.world_size}
        if trainer.is_global_zero and self.started:
            write_status(
                self.lifecycle.run_dir, "running",
                global_step=trainer.global_step, epoch=trainer.current_epoch,
            )  # fmt: skip


def _stops_early(callback) -> bool:
    return isinstance(callback, EarlyStopping)


def _csv_loggers(trainer: Trainer) -> list[AppendingCSVLogger]:
    return [lg for lg in trainer.loggers if isinstance(lg, AppendingCSVLogger)]


def _configured_optimizer_wins(pl_module: LightningModule, checkpoint: dict) -> None:
    """Rewrite the checkpoint's optimizer hyperparameters (weight decay, betas, momentum, and the
    LR when there is no schedule) with this run's config, before Lightning restores them."""
    build = getattr(pl_module, "optimizer", None)
    states = checkpoint.get("optimizer_states")
    if not callable(build) or not states:
        return
    configured = build([torch.nn.Parameter(torch.zeros(1))]).param_groups[0]
    group = states[0]["param_groups"][0]  # the group the model's optimizer made; later ones
    # (a backbone unfrozen by fine-tuning) keep what their callback set
    for key, value in configured.items():
        if key not in ("params", "initial_lr"):
            group[key] = value
