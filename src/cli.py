"""The command line: `python -m src fit|validate|test|predict [--config x.yaml] [--a.b value]`."""

import sys
import warnings
from pathlib import Path

from jsonargparse import Namespace
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities import rank_zero_only

import src.callbacks
import src.data
import src.models
import src.nets
import src.optim  # noqa: F401 - registers the short class names (`SmallCNN`, `MNISTDataModule`...)
from src.callbacks import PerformanceOptions
from src.errors import UsageError
from src.loggers.wandb_mode import choose_wandb_mode
from src.runs import RunOptions, new_run_dir, run_dir_of_checkpoint

# The CSV logger shares the run directory with config.yaml and wandb/ on purpose.
warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")

_DEFAULT_EXPERIMENT = {
    "model": {
        "class_path": "src.models.ImageClassifier",
        "init_args": {"net": "src.nets.SmallCNN"},
    },
    "data": {"class_path": "src.data.DigitsDataModule"},
}


class ResearchCLI(LightningCLI):
    """LightningCLI with the project's defaults, argument links and one directory per run."""

    def __init__(self, args=None, **kwargs):
        kwargs.setdefault("seed_everything_default", 42)
        kwargs.setdefault("auto_configure_optimizers", False)  # optimizers are model arguments
        super().__init__(subclass_mode_model=True, subclass_mode_data=True, args=args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_class_arguments(RunOptions, "run")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        parser.add_lightning_class_args(PerformanceOptions, "perf")
        # One monitored metric, written once, for checkpointing and early stopping alike.
        parser.link_arguments("checkpoint.monitor", "early_stopping.monitor")
        parser.link_arguments("checkpoint.mode", "early_stopping.mode")
        # What the data decides, the model and its net read: nobody writes it twice.
        parser.link_arguments(
            "data.num_classes", "model.init_args.num_classes", apply_on="instantiate"
        )
        for key in ("num_classes", "input_shape"):
            parser.link_arguments(
                f"data.{key}", f"model.init_args.net.init_args.{key}", apply_on="instantiate"
            )
        parser.set_defaults(
            {
                **_DEFAULT_EXPERIMENT,
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.filename": "best",
                "checkpoint.save_last": True,
                "checkpoint.enable_version_counter": False,
                "early_stopping.patience": 5,
                "trainer.max_epochs": 10,
                "trainer.log_every_n_steps": 10,
                "trainer.logger": {
                    "class_path": "lightning.pytorch.loggers.WandbLogger",
                    "init_args": {"project": "lightning-research"},
                },
                "trainer.callbacks": [
                    {"class_path": class_path, "init_args": init_args}
                    for class_path, init_args in [
                        (
                            "lightning.pytorch.callbacks.LearningRateMonitor",
                            {"logging_interval": "step"},
                        ),
                        ("src.callbacks.ThrottledProgressBar", {}),
                        ("lightning.pytorch.callbacks.RichModelSummary", {"max_depth": 2}),
                        ("src.callbacks.PredictionWriter", {}),
                    ]
                ],
            }
        )

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        config.run.name = config.run.name or _experiment_name(config)
        self.run_dir = self._output_dir(config)
        config.trainer.default_root_dir = str(self.run_dir)
        config.checkpoint.dirpath = str(self.run_dir / "checkpoints")
        config.trainer.logger = _point_loggers_at(
            config.trainer.logger, self.run_dir, config.run.name
        )
        config.trainer.callbacks = _drop_disabled_callbacks(config.trainer)
        _print(f"Run directory: {self.run_dir}")

    def _output_dir(self, config: Namespace) -> Path:
        """fit: a new run directory. Evaluating a run's checkpoint: a folder inside that run."""
        run_dir = run_dir_of_checkpoint(config.get("ckpt_path"))
        if self.subcommand != "fit" and run_dir is not None:
            return new_run_dir(run_dir / self.subcommand)
        return new_run_dir(Path(config.run.root) / config.run.name)

    def after_fit(self) -> None:
        options = self.config.fit.run
        if (
            options.test_after_fit
            and not self.trainer.fast_dev_run
            and not self.trainer.interrupted
        ):
            best = self.trainer.checkpoint_callback.best_model_path or None
            self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best)
        self._finish()

    def after_validate(self) -> None:
        self._finish()

    def after_test(self) -> None:
        self._finish()

    def after_predict(self) -> None:
        self._finish()

    def _finish(self) -> None:
        _print(f"Run directory: {self.run_dir}")
        wandb_dir = self.run_dir / "wandb"
        if rank_zero_only.rank == 0 and any(wandb_dir.glob("offline-run-*")):
            offline_run = next(wandb_dir.glob("offline-run-*"))
            _print(f"W&B ran offline; upload the run with: wandb sync {offline_run}")


def _experiment_name(config: Namespace) -> str:
    for path in config.get("config") or []:
        path = Path(str(path))
        if path.parent.name != "presets":
            return path.stem
    return config.data.class_path.rsplit(".", 1)[-1].removesuffix("DataModule").lower()


def _point_loggers_at(logger_config, run_dir: Path, name: str) -> list[Namespace]:
    """Write every logger's files into the run directory, and always a `metrics.csv` there too."""
    if logger_config in (None, False, True):
        loggers = []
    else:
        loggers = list(logger_config) if isinstance(logger_config, list) else [logger_config]
    for logger in loggers:
        kind = logger.class_path.rsplit(".", 1)[-1]
        logger.init_args.save_dir = str(run_dir)
        if kind == "WandbLogger":
            offline = choose_wandb_mode() != "online"
            logger.init_args.offline = offline
            logger.init_args.name = logger.init_args.get("name") or f"{name}/{run_dir.name}"
        elif kind in ("CSVLogger", "TensorBoardLogger"):
            logger.init_args.name = ""
            logger.init_args.version = "" if kind == "CSVLogger" else "tensorboard"
    if not any(logger.class_path.endswith(".CSVLogger") for logger in loggers):
        loggers.append(
            Namespace(
                class_path="lightning.pytorch.loggers.CSVLogger",
                init_args=Namespace(save_dir=str(run_dir), name="", version=""),
            )
        )
    return loggers


def _drop_disabled_callbacks(trainer: Namespace) -> list:
    """`--trainer.enable_progress_bar false` (or model summary) removes the default rich ones."""
    disabled = set()
    if trainer.enable_progress_bar is False:
        disabled |= {"RichProgressBar", "ThrottledProgressBar"}
    if trainer.enable_model_summary is False:
        disabled.add("RichModelSummary")
    callbacks = trainer.callbacks or []
    return [c for c in callbacks if c.class_path.rsplit(".", 1)[-1] not in disabled]


@rank_zero_only
def _print(message: str) -> None:
    print(message, flush=True)


def main(args: list[str] | None = None) -> None:
    try:
        ResearchCLI(args=args)
    except Exception as error:
        cause = _usage_error_in(error)
        if cause is None:
            raise
        print(f"error: {cause}", file=sys.stderr)
        sys.exit(2)


def _usage_error_in(error: BaseException | None) -> UsageError | None:
    """The user's mistake behind an error, also when jsonargparse or Lightning wrapped it."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UsageError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
