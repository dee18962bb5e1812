from pathlib import Path

import yaml
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, WandbLogger


class SaveConfigToLoggers(SaveConfigCallback):
    """Writes `config.yaml` into the run directory and gives every logger the same nested config.

    W&B records it as the run's config, nested as in the YAML (`model`, `data`, `trainer`, ...),
    and keeps the file itself as a `config` artifact of the run; TensorBoard stores it as its
    hyperparameters (its HPARAMS tab, and an `hparams.yaml`); the CSV logger gets nothing more,
    `config.yaml` beside its `metrics.csv` is the same config. The CLI turns off Lightning's own
    logging of the flat `save_hyperparameters` dicts (`trainer.enable_autolog_hparams`), which
    would duplicate it.
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # `trainer.log_dir` is a collective under DDP: read it on every rank here, not in
        # `save_config`, which only rank 0 runs (the other ranks would never join it).
        self.log_dir = trainer.log_dir
        super().setup(trainer, pl_module, stage)

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        config = yaml.safe_load(self.parser.dump(self.config, skip_unset=False))
        config.pop("config", None)  # the paths of the --config files, not settings
        for logger in trainer.loggers:
            if not isinstance(logger, CSVLogger):  # its hparams.yaml would repeat config.yaml
                logger.log_hyperparams(config)
            if isinstance(logger, WandbLogger):
                import wandb  # imported here: keeps CLI start-up fast

                run = logger.experiment
                artifact = wandb.Artifact(f"config-{run.id}", type="config")
                artifact.add_file(str(Path(self.log_dir or ".") / self.config_filename))
                run.log_artifact(artifact)
