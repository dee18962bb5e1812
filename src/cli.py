"""The command line: `python -m src fit|validate|test|predict [--config x.yaml] [--a.b value]`."""

import os
import sys
import warnings
from pathlib import Path

import torch
import yaml
from jsonargparse import Namespace
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

import src.callbacks
import src.data
import src.models
import src.nets
import src.optim  # noqa: F401 - registers the short class names (`SmallCNN`, `MNISTDataModule`...)
from src.callbacks import PerformanceOptions, ResumableCheckpoint, SaveConfigToLoggers
from src.checkpoint_loading import check_checkpoint, is_checkpoint_file, load_checkpoint
from src.errors import UsageError, one_line_error
from src.loggers.wandb_mode import choose_wandb_mode
from src.runs import RunOptions, new_run_dir, resolve_resume, run_dir_of_checkpoint, wandb_run_id

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
        kwargs.setdefault("save_config_callback", SaveConfigToLoggers)
        # Parser errors raise instead of printing usage, so main() can print them as one line.
        no_exit = {"exit_on_error": False}
        kwargs.setdefault("parser_kwargs", {**no_exit, **{c: no_exit for c in self.subcommands()}})
        _check_yaml_syntax(sys.argv[1:] if args is None else args)
        self.resume_dir, args = _with_resumed_config(args)
        super().__init__(subclass_mode_model=True, subclass_mode_data=True, args=args, **kwargs)

    def _parse_ckpt_path(self) -> None:
        # Lightning reads the checkpoint's hyperparameters here, first: fail clearly before that
        # on a missing, truncated or unsafe file.
        config = self.config.get(self.config.get("subcommand") or "")
        if config and is_checkpoint_file(config.get("ckpt_path")):
            self._load_checkpoint(config.ckpt_path, config.get("weights_only") is not False)
        super()._parse_ckpt_path()

    def _load_checkpoint(self, path, weights_only: bool) -> dict:
        """Each checkpoint file is read once, for both checks (before parsing, before running)."""
        loaded = getattr(self, "_loaded_checkpoint", None)
        if loaded is None or loaded[0] != str(path):
            loaded = (str(path), load_checkpoint(path, weights_only))
            self._loaded_checkpoint = loaded
        return loaded[1]

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
                    {"class_path": class_path, "init_args": init_args}
                    for class_path, init_args in [
                        (
                            "lightning.pytorch.callbacks.LearningRateMonitor",
                            {"logging_interval": "step"},
                        ),
                        ("src.callbacks.ThrottledProgressBar", {}),
                        ("lightning.pytorch.callbacks.RichModelSummary", {"max_depth": 2}),
                        ("src.callbacks.PredictionWriter", {}),
                        ("src.callbacks.Throughput", {}),
                        ("src.callbacks.ValidationPredictions", {}),
                        ("src.callbacks.TrainingCurves", {}),
                        ("src.callbacks.RunSummary", {}),
                        ("src.callbacks.StopOnNonFiniteLoss", {}),
                    ]
                ],
            }
        )

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        config.run.name = config.run.name or _experiment_name(config)
        if config.get("weights_only") is None:
            config.weights_only = True  # full pickle (runs code) only with --weights_only false
        if config.weights_only is False:
            warnings.warn(
                "--weights_only false: loading the checkpoint can run code stored in it",
                stacklevel=2,
            )
        _check_hardware(config.trainer)
        self.run_dir = self.resume_dir or self._output_dir(config)
        if self.resume_dir:
            config.ckpt_path = str(self.resume_dir / "checkpoints" / "last.ckpt")
            # config.yaml stays the run's original config; each resume saves its own beside it
            n = len(list(self.resume_dir.glob("config.resume-*.yaml"))) + 1
            self.save_config_kwargs["config_filename"] = f"config.resume-{n}.yaml"
        config.trainer.default_root_dir = str(self.run_dir)
        config.checkpoint.dirpath = str(self.run_dir / "checkpoints")
        config.trainer.logger = _point_loggers_at(
            config.trainer.logger, self.run_dir, config.run.name, wandb_run_id(self.run_dir)
        )
        config.trainer.callbacks = _drop_disabled_callbacks(config.trainer)
        _print(f"Run directory: {self.run_dir}")

    def _output_dir(self, config: Namespace) -> Path:
        """fit: a new run directory. Evaluating a run's checkpoint: a folder inside that run."""
        run_dir = run_dir_of_checkpoint(config.get("ckpt_path"))
        if self.subcommand != "fit" and run_dir is not None:
            return new_run_dir(run_dir / self.subcommand)
        return new_run_dir(Path(config.run.root) / config.run.name)

    def _check_checkpoint(self) -> None:
        config = self.config[self.subcommand]
        if is_checkpoint_file(config.ckpt_path):
            checkpoint = self._load_checkpoint(config.ckpt_path, config.weights_only)
            check_checkpoint(checkpoint, config.ckpt_path, self.model)
            self._loaded_checkpoint = None  # Lightning loads it for the run itself

    before_fit = before_validate = before_test = before_predict = _check_checkpoint

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
        for logger in self.trainer.loggers:
            if isinstance(logger, WandbLogger):
                # Closes the record now: an in-process caller (a test, a notebook) may start
                # another run, which WandbLogger would otherwise append to this one.
                logger.experiment.finish()
        _print(f"Run directory: {self.run_dir}")
        wandb_dir = self.run_dir / "wandb"
        offline_runs = sorted(wandb_dir.glob("offline-run-*"))
        if offline_runs:  # one per process that logged to the run: resumes add more
            target = offline_runs[0] if len(offline_runs) == 1 else wandb_dir / "offline-run-*"
            _print(f"W&B ran offline; upload the run with: wandb sync {target}")


def _experiment_name(config: Namespace) -> str:
    for path in config.get("config") or []:
        path = Path(str(path))
        if path.parent.name != "presets":
            return path.stem
    return config.data.class_path.rsplit(".", 1)[-1].removesuffix("DataModule").lower()


def _with_resumed_config(args: list[str] | None) -> tuple[Path | None, list[str] | None]:
    """`fit --run.resume <run>`: the run directory, and the args with its config.yaml first."""
    argv = sys.argv[1:] if args is None else list(args)
    resume = _option_value(argv, "--run.resume")
    if resume is None:
        return None, args
    if not argv or argv[0] != "fit":
        raise UsageError("--run.resume continues training: use it with `fit`")
    run_dir = resolve_resume(resume, _option_value(argv, "--run.root") or "logs")
    return run_dir, [argv[0], "--config", str(run_dir / "config.yaml"), *argv[1:]]


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


def _option_value(argv: list[str], option: str) -> str | None:
    value = None
    for i, arg in enumerate(argv):
        if arg == option and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(option + "="):
            value = arg.split("=", 1)[1]
    return value


def _check_hardware(trainer: Namespace) -> None:
    """Devices or a precision this machine cannot provide: say so before anything starts."""
    accelerator, devices = str(trainer.get("accelerator")), trainer.get("devices")
    if accelerator == "auto":
        accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise UsageError(
            f"--trainer.accelerator {accelerator} but no GPU is visible: "
            "use --trainer.accelerator cpu (or --config configs/presets/cpu.yaml)"
        )
    precision = str(trainer.get("precision"))
    if accelerator == "cpu" and precision in ("16", "16-true", "half", "transformer-engine"):
        raise UsageError(
            f"--trainer.precision {precision} is not supported on the CPU: "
            "use bf16-mixed (or 32-true)"
        )
    if accelerator == "cpu" and trainer.get("sync_batchnorm"):
        raise UsageError(
            "--trainer.sync_batchnorm works on GPUs only: pass --trainer.sync_batchnorm false"
        )
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    if not isinstance(devices, int) or isinstance(devices, bool) or devices < 1:
        return
    if accelerator == "cpu":
        available, kind = os.cpu_count() or 1, "CPU cores"
    elif accelerator in ("gpu", "cuda"):
        available, kind = torch.cuda.device_count(), "GPUs"
    else:
        return
    if devices > available:
        raise UsageError(
            f"--trainer.devices {devices} but this machine has {available} {kind}: "
            f"use at most {available} (or -1 for all)"
        )


def _point_loggers_at(
    logger_config, run_dir: Path, name: str, wandb_id: str | None = None
) -> list[Namespace]:
    """Write every logger's files into the run directory, and always a `metrics.csv` there too.

    With `wandb_id` (a resumed run) W&B continues that run instead of starting a new one.
    """
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
            if offline and logger.init_args.get("log_model"):
                # WandbLogger refuses log_model offline: there is nowhere to upload to.
                logger.init_args.log_model = False
                _print(f"W&B is offline: checkpoints stay in {run_dir}/checkpoints, not uploaded")
            logger.init_args.name = logger.init_args.get("name") or f"{name}/{run_dir.name}"
            if wandb_id:
                logger.init_args.id = wandb_id
                logger.init_args.resume = "allow"
        elif kind in ("CSVLogger", "AppendingCSVLogger", "TensorBoardLogger"):
            # Straight into the run directory: the trainer's log_dir, where config.yaml goes, is
            # the first logger's, and TensorBoard finds the events of every run under logs/.
            logger.init_args.name = ""
            logger.init_args.version = ""
    if not any(logger.class_path.endswith("CSVLogger") for logger in loggers):
        loggers.append(
            Namespace(
                class_path="src.loggers.appending_csv.AppendingCSVLogger",
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
        message = one_line_error(error)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
