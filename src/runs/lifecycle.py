"""One run, one directory, one honest record: however it is launched, stopped or resumed.

`RunLifecycle` is what the CLI calls at each stage:

1. `args()`, before parsing: `--run.resume` (or a requeued job) puts the run's own config first.
2. `configure(config, dump)`, before the classes are built: the run directory (decided by global
   rank 0, shared with every other process), what a resume may change, the loggers' paths.
3. its callbacks (`RunRecord`, `GracefulStop`) during the run: status, heartbeat, signals.
4. `end(error)`, however the subcommand ended: the status, or, for a run that failed before its
   first step, nothing left behind (a new run's directory is removed, a resumed run's files are
   put back as they were), and the lines that say where the run is and how to continue it.
"""

import pydoc
import shutil
import signal
import sys
import threading
from pathlib import Path

import yaml
from jsonargparse import Namespace
from lightning.pytorch.loggers import WandbLogger

from src.checkpoints import load_checkpoint
from src.errors import UsageError, one_line_error
from src.files import SUMMARY_SECTIONS, DamagedFile, read_mapping
from src.runs.console import HeldLogs, choose_callbacks
from src.runs.directory import new_run_dir, run_dir_of_checkpoint, wandb_run_id
from src.runs.launch import detect_launch
from src.runs.record import RunRecord
from src.runs.resume import (
    check_changes,
    latest_config,
    next_resume_config,
    nothing_left,
    read_config,
    resolve_resume,
    set_aside_damaged,
)
from src.runs.run_loggers import point_loggers_at
from src.runs.signals import GracefulStop, RunStopped, install_immediate_stop
from src.runs.status import write_status

SUBCOMMANDS = ("fit", "validate", "test", "predict")


class NothingToTrain(Exception):
    """A resume whose run has already trained as far as it was asked to: said, exit 0."""


class RunLifecycle:
    def __init__(self, argv: list[str]):
        self.argv = list(argv)
        self.subcommand = self.argv[0] if self.argv and self.argv[0] in SUBCOMMANDS else None
        self.command = _without_option(self.argv, "--run.resume")  # what `auto` matches
        self.launch = detect_launch()
        self.logs = HeldLogs()
        self.record, self.stop = RunRecord(self), GracefulStop()
        self.trainer = None
        self.run_dir: Path | None = None
        self.resume_dir: Path | None = None
        self.config_filename = "config.yaml"
        self.test_only = False  # a resumed run with nothing left to train but its test
        self.notes: list[str] = []
        self._made_below: Path | None = None  # a new run's directories were made under this one
        self._snapshot: tuple[set, dict] | None = None  # a resumed run before this attempt
        self._checkpoint: tuple[str, dict] | None = None
        self._root: str | None = None  # where rank 0 shared its decisions, for removing them
        self._handlers = {}
        if threading.current_thread() is threading.main_thread():
            self._handlers = install_immediate_stop()

    def callbacks(self) -> list:
        return [self.record, self.stop]

    def checkpoint(self, path, weights_only: bool = True) -> dict:
        """Each checkpoint file is read once for all the checks made before the run."""
        if self._checkpoint is None or self._checkpoint[0] != str(path):
            self._checkpoint = (str(path), load_checkpoint(path, weights_only))
        return self._checkpoint[1]

    def args(self) -> list[str]:
        """The arguments to parse: for a resume, the run's latest config goes first."""
        resume = _option(self.argv, "--run.resume")
        requeued = self.subcommand == "fit" and self.launch.requeued and self.launch.job
        if resume is None and not requeued:
            return self.argv
        if resume is not None and self.subcommand != "fit":
            raise UsageError("--run.resume continues training: use it with `fit`")
        root = _option(self.argv, "--run.root") or _from_configs(self.argv, "run", "root")
        root = root or "logs"
        target = None
        if self.launch.rank == 0:
            try:  # a requeued job continues its own run; `auto`, this command's newest
                job = self.launch.job if resume is None else None
                target = resolve_resume(resume or "auto", root, self.command, job)
            except UsageError as error:
                self.launch.share_error("resume", error, root)
                raise
            if target is None and resume == "auto":
                self.notes.append("--run.resume auto: no earlier run of this command; a new run")
        self._root = root
        target = self.launch.share("resume", str(target or ""), root)
        if not target:
            return self.argv
        self.resume_dir = Path(target)
        if self.launch.rank == 0:
            set_aside_damaged(self.resume_dir)
        return [self.argv[0], "--config", str(latest_config(self.resume_dir)), *self.argv[1:]]

    def configure(self, config: Namespace, dump: dict) -> None:
        """Before the classes are built: this run's directory and all that writes into it."""
        config.run.name = config.run.name or experiment_name(config)
        evaluated = run_dir_of_checkpoint(config.get("ckpt_path"))  # the run a checkpoint is of
        if self.resume_dir is not None:
            self._resume(config, dump)
        else:
            self.run_dir = self._new_run_dir(config, evaluated)
        config.trainer.default_root_dir = str(self.run_dir)
        if self.subcommand == "fit":
            config.checkpoint.dirpath = str(self.run_dir / "checkpoints")
        elif evaluated is not None:  # nothing is saved; Lightning warns if it differs
            config.checkpoint.dirpath = str(evaluated / "checkpoints")
        loggers = config.trainer.logger
        if self.subcommand != "fit" and _option(self.argv, "--trainer.logger") is None:
            loggers = _without_wandb(loggers)  # an evaluation is no new W&B run unless asked
        wandb_id = wandb_run_id(self.run_dir) if self.resume_dir else None
        config.trainer.logger, notes = point_loggers_at(
            loggers, self.run_dir, config.run.name, wandb_id
        )
        self.notes += notes
        config.trainer.callbacks = choose_callbacks(config.trainer)

    def _resume(self, config: Namespace, dump: dict) -> None:
        run_dir, last = self.resume_dir, self.resume_dir / "checkpoints" / "last.ckpt"
        changes = check_changes(read_config(latest_config(run_dir)), dump)
        trainer = config.trainer
        why = nothing_left(
            self.checkpoint(last, config.get("weights_only") is not False),
            trainer.max_epochs, trainer.max_steps, config.early_stopping.patience,
        )  # fmt: skip
        if why and not (config.run.test_after_fit and not _tested(run_dir)):
            raise NothingToTrain(f"Nothing left to train in {run_dir}: {why}")
        if why:  # stopped during its test after fit, say: the test is what is left
            self.test_only = True
            self.notes.append(f"Nothing left to train in {run_dir} ({why}), but it has no test "
                              "results: testing its best checkpoint")  # fmt: skip
        else:
            step = self.checkpoint(last)["global_step"]
            self.notes.append(f"Resuming {run_dir} from step {step}")
        self.notes += [f"  with {change}" for change in changes]
        config.ckpt_path = str(last)
        self.run_dir = run_dir
        self.config_filename = next_resume_config(run_dir)
        if self.launch.rank == 0:
            self._snapshot = _snapshot(run_dir)

    def _new_run_dir(self, config: Namespace, evaluated: Path | None) -> Path:
        if self.subcommand != "fit" and evaluated is not None:
            parent = evaluated / self.subcommand  # evaluating a run's checkpoint: inside it
        else:
            parent = Path(config.run.root) / config.run.name
        run_dir = None
        if self.launch.rank == 0:
            self._made_below = next(p for p in [parent, *parent.parents] if p.exists())
            try:
                run_dir = new_run_dir(parent)
            except UsageError as error:
                self.launch.share_error("run_dir", error, config.run.root)
                raise
        self._root = config.run.root
        return Path(self.launch.share("run_dir", str(run_dir or ""), config.run.root))

    def end(self, error: BaseException | None) -> None:
        """However the subcommand ended: the record, the clean-up and the last lines."""
        try:
            self._end(error)
        finally:
            for signum, handler in self._handlers.items():
                signal.signal(signum, handler)
            if error is None or one_line_error(error) or isinstance(error, RunStopped):
                self.logs.drop()  # released at the start already, or noise before an error line
            else:
                self.logs.release()  # a bug: everything that may explain it

    def _end(self, error: BaseException | None) -> None:
        self.record.stop_heartbeat()
        if self.launch.rank != 0:
            return
        if self._root is not None:
            self.launch.forget(self._root)
        if isinstance(error, NothingToTrain):
            print(error, flush=True)
            return
        if self.run_dir is None:  # stopped before there was a run: nothing to record
            return
        stopped = error if isinstance(error, RunStopped) else None
        code = 0 if error is None else stopped.exit_code if stopped else 2
        if error is not None and not stopped and one_line_error(error) is None:
            code = 1  # a bug, with its traceback
        _finish_wandb(code)
        progress = {}
        if self.trainer is not None:
            progress = {
                "global_step": self.trainer.global_step,
                "epoch": self.trainer.current_epoch,
            }
        if error is None:
            write_status(self.run_dir, "finished", exit_code=0, **progress)
            self._goodbye()
        elif not self.record.trained or self.subcommand != "fit":
            self._undo()  # nothing was trained: nothing of this attempt stays
        else:
            status = stopped.status if stopped else "failed"
            line = None if stopped else one_line_error(error) or first_line(error)
            name = signal.Signals(stopped.signum).name if stopped else None
            write_status(self.run_dir, status, error=line, exit_code=code, signal=name, **progress)
            if stopped:
                print(
                    f"{name}: stopped at step {stopped.step} with a checkpoint; continue with: "
                    f"python -m src fit --run.resume {self.run_dir}",
                    flush=True,
                )
            print(f"Run directory: {self.run_dir}", flush=True)

    def _goodbye(self) -> None:
        trainer = self.trainer
        for callback in trainer.callbacks if trainer else []:
            if getattr(callback, "stopped_epoch", 0) and hasattr(callback, "wait_count"):
                best = callback.best_score.item()
                print(
                    f"Early stopping: {callback.monitor} did not improve on {best:.4g} for "
                    f"{callback.wait_count} validations; stopped after epoch "
                    f"{callback.stopped_epoch}",
                    flush=True,
                )
        print(f"Run directory: {self.run_dir}", flush=True)
        wandb_dir = self.run_dir / "wandb"
        offline_runs = sorted(wandb_dir.glob("offline-run-*"))
        if offline_runs:  # one per process that logged to the run: resumes add more
            target = offline_runs[0] if len(offline_runs) == 1 else wandb_dir / "offline-run-*"
            print(f"W&B ran offline; upload the run with: wandb sync {target}", flush=True)

    def _undo(self) -> None:
        if self._snapshot is None:  # a new run or evaluation folder: remove it
            shutil.rmtree(self.run_dir, ignore_errors=True)
            for parent in self.run_dir.parents:
                if parent == self._made_below or any(parent.iterdir()):
                    break
                parent.rmdir()
            return
        paths, contents = self._snapshot  # a resumed run: back to how this attempt found it
        for path in sorted(self.run_dir.rglob("*"), reverse=True):  # children before parents
            if path.relative_to(self.run_dir) not in paths:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        for name, data in contents.items():
            (self.run_dir / name).write_bytes(data)


def experiment_name(config: Namespace) -> str:
    """The first `--config` file's name that is not a preset, else the datamodule's name."""
    for path in config.get("config") or []:
        path = Path(str(path))
        if path.parent.name != "presets":
            return path.stem
    return config.data.class_path.rsplit(".", 1)[-1].removesuffix("DataModule").lower()


def _tested(run_dir: Path) -> bool:
    """Whether the run's summary holds test results (RunSummary writes them after the test)."""
    try:
        return bool((read_mapping(run_dir / "summary.yaml", SUMMARY_SECTIONS) or {}).get("test"))
    except DamagedFile:
        return False


def _without_wandb(loggers):
    if loggers in (None, False, True):
        return loggers
    loggers = loggers if isinstance(loggers, list) else [loggers]
    return [lg for lg in loggers if not issubclass(pydoc.locate(lg.class_path), WandbLogger)]


def _snapshot(run_dir: Path) -> tuple[set, dict]:
    """Every path in the run, and the bytes of its top-level files (status, summary, metrics)."""
    paths = {p.relative_to(run_dir) for p in run_dir.rglob("*")}
    contents = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    return paths, contents


def _finish_wandb(exit_code: int) -> None:
    """Close the W&B run with how it ended; an in-process caller may start another one next."""
    wandb = sys.modules.get("wandb")  # not imported: the run did not use W&B
    if wandb is not None and wandb.run is not None:
        wandb.run.finish(exit_code=exit_code)


def first_line(error: BaseException) -> str:
    """`Type: first line of the message`, for a record or an error line."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _option(argv: list[str], option: str) -> str | None:
    value = None
    for i, arg in enumerate(argv):
        if arg == option and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(option + "="):
            value = arg.split("=", 1)[1]
    return value


def _without_option(argv: list[str], option: str) -> list[str]:
    out, skip = [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg == option and i + 1 < len(argv):
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out


def _from_configs(argv: list[str], section: str, key: str) -> str | None:
    """`section.key` as the `--config` files set it (the last one wins), read before parsing."""
    value = None
    for i, arg in enumerate(argv[:-1]):
        if arg == "--config" and Path(argv[i + 1]).is_file():
            try:
                config = yaml.safe_load(Path(argv[i + 1]).read_text()) or {}
            except yaml.YAMLError:
                continue  # the parser reports it, with the file's name
            value = (config.get(section) or {}).get(key, value)
    return value
