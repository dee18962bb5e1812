"""The command line: `python -m src fit|validate|test|predict [--config x.yaml] [--a.b value]`."""

import sys
import warnings
from pathlib import Path

import yaml
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

import src.callbacks
import src.data
import src.models
import src.nets
import src.optim  # noqa: F401 - registers the short class names (`SmallCNN`, `MNISTDataModule`...)
from src.callbacks import PerformanceOptions, ResumableCheckpoint, SaveConfigToLoggers
from src.checkpoints import check_checkpoint, is_checkpoint_file
from src.errors import UsageError, one_line_error
from src.runs import RunOptions, class_defaults  # noqa: F401 - class switches take new defaults
from src.runs.checks import check_options
from src.runs.console import quiet_known_noise
from src.runs.lifecycle import NothingToTrain, RunLifecycle
from src.runs.signals import RunStopped

_DEFAULT_EXPERIMENT = {
    "model": {
        "class_path": "src.models.ImageClassifier",
        "init_args": {"net": "src.nets.SmallCNN"},
    },
    "data": {"class_path": "src.data.DigitsDataModule"},
}
_DEFAULT_CALLBACKS = [
    ("lightning.pytorch.callbacks.LearningRateMonitor", {"logging_interval": "step"}),
    ("src.callbacks.ThrottledProgressBar", {}),
    ("lightning.pytorch.callbacks.RichModelSummary", {"max_depth": 2}),
    ("src.callbacks.PredictionWriter", {}),
    ("src.callbacks.Throughput", {}),
    ("src.callbacks.ValidationPredictions", {}),
    ("src.callbacks.TrainingCurves", {}),
    ("src.callbacks.RunSummary", {}),
    ("src.callbacks.StopOnNonFiniteLoss", {}),
]


_EPILOG = (
    "The chosen classes' own arguments: --model.help ImageClassifier, --model.net.help SmallCNN, "
    "--data.help MNISTDataModule, --model.optimizer.help SGD, --model.scheduler.help "
    "WarmupCosine, --trainer.callbacks.help ValidationPredictions. Everything a run would use, "
    "resolved: --print_config."
)


class ResearchCLI(LightningCLI):
    """LightningCLI with the project's defaults and argument links; `RunLifecycle` does the rest:
    one directory and one record per run, resumes, signals, and what the user sees."""

    def __init__(self, args=None, **kwargs):
        quiet_known_noise()
        self.lifecycle = RunLifecycle(sys.argv[1:] if args is None else args)
        kwargs.setdefault("seed_everything_default", 42)
        kwargs.setdefault("auto_configure_optimizers", False)  # optimizers are model arguments
        kwargs.setdefault("save_config_callback", SaveConfigToLoggers)
        kwargs.setdefault("trainer_defaults", {"callbacks": self.lifecycle.callbacks()})
        # Parser errors raise instead of printing usage, so main() can print them as one line.
        no_exit = {"exit_on_error": False}
        sub = {**no_exit, "epilog": _EPILOG}
        main = {**no_exit, "prog": "python -m src"}
        kwargs.setdefault("parser_kwargs", {**main, **{c: sub for c in self.subcommands()}})
        error = None
        try:
            args = self.lifecycle.args()
            _check_yaml_syntax(args)
            super().__init__(subclass_mode_model=True, subclass_mode_data=True, args=args, **kwargs)
        except BaseException as raised:
            error = raised
            raise
        finally:
            self.lifecycle.end(error)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_class_arguments(RunOptions, "run")
        parser.add_lightning_class_args(ResumableCheckpoint, "checkpoint")
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
                # SaveConfigToLoggers logs the nested config; not also the flat hparams dicts.
                "trainer.enable_autolog_hparams": False,
                "trainer.logger": {
                    "class_path": "lightning.pytorch.loggers.WandbLogger",
                    "init_args": {"project": "lightning-research", "log_model": True},
                },
                "trainer.callbacks": [
                    {"class_path": path, "init_args": init_args}
                    for path, init_args in _DEFAULT_CALLBACKS
                ],
            }
        )

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        super().parse_arguments(parser, args)
        # Lightning reads a `--ckpt_path` file's hyperparameters next: fail clearly before that on
        # a missing, truncated or unsafe file.
        config = self.config.get(self.config.get("subcommand") or "")
        if config and is_checkpoint_file(config.get("ckpt_path")):
            self.lifecycle.checkpoint(config.ckpt_path, config.get("weights_only") is not False)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        if config.get("weights_only") is None:
            config.weights_only = True  # full pickle (runs code) only with --weights_only false
        if config.weights_only is False:
            warnings.warn(
                "--weights_only false: loading the checkpoint can run code stored in it",
                stacklevel=2,
            )
        check_options(config)
        dump = yaml.safe_load(self._parser(self.subcommand).dump(config, skip_unset=False))
        self.lifecycle.configure(config, dump)
        self.save_config_kwargs["config_filename"] = self.lifecycle.config_filename

    def _check_checkpoint(self) -> None:
        config = self.config[self.subcommand]
        if is_checkpoint_file(config.ckpt_path):
            checkpoint = self.lifecycle.checkpoint(config.ckpt_path, config.weights_only)
            check_checkpoint(checkpoint, config.ckpt_path, self.model)

    before_fit = before_validate = before_test = before_predict = _check_checkpoint

    def fit(self, model, **kwargs) -> None:
        if not self.lifecycle.test_only:  # a resume with nothing left to train but its test
            self.trainer.fit(model, **kwargs)

    def after_fit(self) -> None:
        if self.config.fit.run.test_after_fit and not self.trainer.fast_dev_run:
            checkpoint = self.trainer.checkpoint_callback
            best = checkpoint.best_model_path or None
            if getattr(checkpoint, "best_is_in_memory", lambda t: False)(self.trainer):
                best = None  # the weights in memory are best.ckpt's: no second read of it
            if self.lifecycle.test_only:
                best = str(self.lifecycle.run_dir / "checkpoints" / "best.ckpt")
            self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best)


_SOURCE = str(Path(__file__).parent)


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """The project's own warnings as one `warning:` line; others as Python shows them."""
    if str(filename).startswith(_SOURCE):
        return f"warning: {message}\n"
    return _python_warning(message, category, filename, lineno, line)


_python_warning = warnings.formatwarning


def _check_yaml_syntax(argv: list[str]) -> None:
    """jsonargparse reports broken YAML without the file's name: name it."""
    for i, arg in enumerate(argv[:-1]):
        path = Path(argv[i + 1])
        if arg == "--config" and path.is_file():
            try:
                yaml.safe_load(path.read_text())
            except yaml.YAMLError as error:
                mark = getattr(error, "problem_mark", None)
                where = f" at line {mark.line + 1}" if mark else ""
                problem = getattr(error, "problem", None) or "syntax error"
                raise UsageError(f"{path} is not valid YAML ({problem}{where}): fix it") from None


def main(args: list[str] | None = None) -> None:
    """`python -m src`: exit 0 when done, 2 with one `error:` line for a mistake, 128 + the
    signal when a signal stopped it (SIGINT: 130), 1 with a traceback for a bug."""
    warnings.formatwarning = _one_line_warning
    try:
        ResearchCLI(args=args)
    except NothingToTrain:
        return  # said by the lifecycle
    except RunStopped as stopped:
        sys.exit(stopped.exit_code)
    except Exception as error:
        message = one_line_error(error)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
