"""The sweep's side inside a trial: a callback that reports to the Optuna study and prunes."""

import json
import os

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info

from src.experiments.search import make_pruner
from src.experiments.storage import open_storage
from src.experiments.trial import PRUNING_ENV


class OptunaPruning(Callback):
    """Reports the sweep's metric to this run's Optuna trial after each validation epoch, and
    stops the run early when the study's pruner says it cannot catch up.

    `python -m src.sweep` adds it to the trials of sweeps with `early_terminate`; the trial learns
    its study from the environment, so the saved config stays an ordinary config and the
    callback does nothing in a run outside a sweep. The run then ends as usual (tested, summary
    written) and the sweep records the trial as pruned.
    """

    def __init__(self):
        self._trial = None
        self._metric: str | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        settings = os.environ.get(PRUNING_ENV)
        if stage == "fit" and settings and trainer.is_global_zero and self._trial is None:
            self._trial, self._metric = _open_trial(json.loads(settings))

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        prune = False
        value = trainer.callback_metrics.get(self._metric) if self._trial else None
        if value is not None:
            epoch = trainer.current_epoch
            self._trial.report(float(value), epoch)
            prune = self._trial.should_prune()
            if prune:
                self._trial.set_user_attr("pruned_at_epoch", epoch)
                rank_zero_info(
                    f"Pruned by the sweep at epoch {epoch}: {self._metric}={float(value):.4g}"
                )
        if trainer.world_size > 1:
            prune = trainer.strategy.broadcast(prune)
        if prune:
            trainer.should_stop = True


def _open_trial(settings: dict):
    import optuna

    study = optuna.load_study(
        study_name=settings["study"],
        storage=open_storage(settings["storage"]),
        sampler=optuna.samplers.RandomSampler(),  # nothing is sampled here
        pruner=make_pruner(settings["early_terminate"]),
    )
    return optuna.Trial(study, settings["trial_id"]), settings["metric"]
