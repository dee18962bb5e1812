"""The command line: `python -m src fit|validate|test|predict [--config x.yaml] [--a.b value]`."""

import inspect
import pydoc
import sys
import warnings
from pathlib import Path

import yaml
from jsonargparse._actions import _ActionPrintConfig  # the hook --print_config runs through
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.cli import (  # see _LinkedHyperparameters
    LightningArgumentParser,
    LightningCLI,
    _get_module_type,
    _InstantiatorFn,
)
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.model_helpers import is_overridden

import src.callbacks
import src.data
import src.models
import src.nets
import src.optim  # noqa: F401 - registers the short class names (`SmallCNN`, `MNISTDataModule`...)
from src.callbacks import PerformanceOptions, ResumableCheckpoint, SaveConfigToLoggers
from src.checkpoints import check_checkpoint, is_checkpoint_file
from src.errors import UsageError, one_line_error, show_warnings_in_one_line
from src.files import DamagedFile, read_mapping
from src.runs import RunOptions, class_defaults  # noqa: F401 - class switches take new defaults
from src.runs.checks import check_options, check_seed
from src.runs.console import quiet_known_noise
from src.runs.lifecycle import NothingToTrain, RunLifecycle, first_line
from src.runs.monitor import AUTO, resolve_monitor
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
    ("src.callbacks.ValidationReconstructions", {}),
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


_WANDB_DEFAULT_HELP = (
    "WandbLogger (project lightning-research, log_model true), offline without W&B credentials, "
    "plus a CSV logger writing metrics.csv into the run directory"
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
            _check_config_files(args)
            super().__init__(subclass_mode_model=True, subclass_mode_data=True, args=args, **kwargs)
        except BaseException as raised:
            error = raised
            raise
        finally:
            self.lifecycle.end(error)

    def subcommands(self) -> dict[str, set[str]]:
        """Only the subcommand given gets a parser: LightningCLI builds one for each of the four,
        every class signature resolved four times (a third of `fit --help`'s own time)."""
        every = LightningCLI.subcommands()
        chosen = self.lifecycle.subcommand
        return {chosen: every[chosen]} if chosen in every else every

    def _add_instantiators(self) -> None:
        for key, base, subclasses in (
            ("model", self._model_class, self.subclass_mode_model),
            ("data", self._datamodule_class, self.subclass_mode_data),
        ):
            self.parser.add_instantiator(
                _LinkedHyperparameters(cli=self, key=key), _get_module_type(base), subclasses
            )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_class_arguments(RunOptions, "run")
        parser.add_lightning_class_args(ResumableCheckpoint, "checkpoint")
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        parser.add_lightning_class_args(PerformanceOptions, "perf")
        # One monitored metric, written once, for checkpointing and early stopping alike.
        parser.link_arguments("checkpoint.monitor", "early_stopping.monitor")
        parser.link_arguments("checkpoint.mode", "early_stopping.mode")
        link_data_to_model(parser)
        defaults = {
            **_DEFAULT_EXPERIMENT,
            "checkpoint.monitor": AUTO,  # the model's `monitor`, else val/loss (runs.monitor)
            "checkpoint.mode": AUTO,
            "checkpoint.filename": "best",
            "checkpoint.save_last": True,
            "checkpoint.enable_version_counter": False,
            "early_stopping.patience": 5,
            "trainer.max_epochs": 10,
            # Lightning's default: each logging step costs ~2 ms here (the logged values, metric
            # updates, one W&B row), 0.04 ms a step at 50, 0.2 ms at 10 (README, Performance).
            "trainer.log_every_n_steps": 50,
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
        if {"-h", "--help"} & set(self.lifecycle.argv):
            # Resolving the W&B logger's arguments for the default imports wandb (~1 s: jsonargparse
            # runs the `TYPE_CHECKING` imports of Lightning's wandb module), all for one line of
            # help: the help names the default in words instead.
            del defaults["trainer.logger"]
            action = parser._option_string_actions.get("--trainer.logger")
            if action is not None:
                action.help = f"{action.help} This CLI's default: {_WANDB_DEFAULT_HELP}."
        parser.set_defaults(defaults)

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        with _ActionPrintConfig.skip_print_config():  # printed below, once `auto` is resolved
            super().parse_arguments(parser, args)
        config = self.config.get(self.config.get("subcommand") or "")
        if config and config.get("checkpoint"):
            model_class = pydoc.locate(config.model.class_path)
            monitor, mode = resolve_monitor(model_class, config.checkpoint.monitor,
                                            config.checkpoint.mode)  # fmt: skip
            config.checkpoint.monitor = config.early_stopping.monitor = monitor
            config.checkpoint.mode = config.early_stopping.mode = mode
        if config:  # before LightningCLI seeds everything with it
            check_seed(config.get("seed_everything"))
        _ActionPrintConfig.print_config_if_requested(parser, self.config)  # --print_config
        # Lightning reads a `--ckpt_path` file's hyperparameters next: fail clearly before that on
        # a missing, truncated or unsafe file.
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
        check_options(config, self.subcommand)
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

    def predict(self, model, **kwargs):
        try:
            return self.trainer.predict(model, **kwargs)
        except Exception as error:
            if is_overridden("predict_step", model) or one_line_error(error):
                raise
            raise UsageError(
                f"{type(model).__name__} has no predict_step, and Lightning's default, "
                f"forward(batch) with the whole batch, failed ({first_line(error)}): give the "
                "model a predict_step"
            ) from error

    def after_fit(self) -> None:
        if self.config.fit.run.test_after_fit and not self.trainer.fast_dev_run:
            missing = [
                f"{type(owner).__name__} has no {hook}"
                for owner, hook in ((self.model, "test_step"), (self.datamodule, "test_dataloader"))
                if owner is not None and not is_overridden(hook, owner)
            ]
            if missing:
                rank_zero_info(f"No test after fit: {' and '.join(missing)}")
                return
            checkpoint = self.trainer.checkpoint_callback
            best = checkpoint.best_model_path or None
            if getattr(checkpoint, "best_is_in_memory", lambda t: False)(self.trainer):
                best = None  # the weights in memory are best.ckpt's: no second read of it
            if self.lifecycle.test_only:
                best = str(self.lifecycle.run_dir / "checkpoints" / "best.ckpt")
            self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best)


# What the data decides, the model and its net read: nobody writes it twice.
DATA_TO_MODEL = {
    "num_classes": ("model.init_args.num_classes", "model.init_args.net.init_args.num_classes"),
    "input_shape": ("model.init_args.input_shape", "model.init_args.net.init_args.input_shape"),
}


class _LinkedHyperparameters(_InstantiatorFn):
    """Lightning's record of a module's hyperparameters, with only the links that applied.

    jsonargparse skips a link whose target the class lacks, but still reports it as applied,
    and Lightning writes every reported value into the hyperparameters: an `Autoencoder` would
    save a `num_classes` it does not take, and `load_from_checkpoint` would then refuse it.
    A link is kept where its target is one of the class's (and its net's) own arguments.
    """

    def __call__(self, class_type, *args, applied_instantiation_links: dict, **kwargs):
        self.cli._dump_config()
        section = self.cli.config_dump.get(self.key, {})
        applied = {k: v for k, v in applied_instantiation_links.items() if _takes(section, k)}
        return super().__call__(class_type, *args, applied_instantiation_links=applied, **kwargs)


def _takes(section: dict, dotted: str) -> bool:
    """Whether the class the link `model.init_args.net.init_args.num_classes` ends in (the net
    here) names that argument in its `__init__`."""
    *path, name = dotted.split(".")[1:]
    node, owner = section, section.get("class_path")
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and "class_path" in node:
            owner = node["class_path"]
    try:
        parameter = inspect.signature(pydoc.locate(str(owner)).__init__).parameters.get(name)
    except (TypeError, ValueError, AttributeError):
        return False
    return parameter is not None and parameter.kind not in (parameter.VAR_POSITIONAL,
                                                            parameter.VAR_KEYWORD)  # fmt: skip


def link_data_to_model(parser) -> None:
    """`data.<key>` into the model's and its net's `__init__` argument of that name, once the
    datamodule is built. A link applies only where both ends exist: a datamodule without the
    attribute, or a model or net without the argument, is left alone (jsonargparse skips it)."""
    for key, targets in DATA_TO_MODEL.items():
        for target in targets:
            parser.link_arguments(f"data.{key}", target, apply_on="instantiate")


def _check_config_files(argv: list[str]) -> None:
    """jsonargparse reports a broken config file without its name, and YAML keeps the last of
    a key given twice: name the file and what is wrong with it."""
    for i, arg in enumerate(argv[:-1]):
        path = Path(argv[i + 1])
        if arg == "--config" and path.is_file():
            try:
                read_mapping(path)
            except DamagedFile as error:
                raise UsageError(f"{error}: fix it") from None


def main(args: list[str] | None = None) -> None:
    """`python -m src`: exit 0 when done, 2 with one `error:` line for a mistake, 128 + the
    signal when a signal stopped it (SIGINT: 130), 1 with a traceback for a bug."""
    show_warnings_in_one_line()
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
