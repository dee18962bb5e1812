"""The user sees an `error:` line first; Lightning's start-up lines once a run starts."""

import logging
import pydoc
import sys
import warnings

from jsonargparse import Namespace
from lightning.pytorch.callbacks import ModelSummary, ProgressBar

# Lightning's loggers, which print "Seed set to 42", "GPU available: ..." and the like on start-up.
_LOGGERS = ("lightning.pytorch", "lightning.fabric")


class HeldLogs:
    """Holds Lightning's start-up log lines until the run starts, so a mistake found while the
    run is set up (bad data, a bad option value) is shown as its one `error:` line, not after a
    screen of set-up messages. `release()` shows them; `drop()` forgets them."""

    def __init__(self):
        self.records: list[logging.LogRecord] = []
        self._handlers = {}
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            self._handlers[name] = logger.handlers[:]
            logger.handlers = [_Collect(self.records)]

    def release(self) -> None:
        handlers, self._handlers = self._handlers, {}
        for name, original in handlers.items():
            logging.getLogger(name).handlers = original
        for record in self.records:
            logging.getLogger(record.name).handle(record)
        self.records.clear()

    def drop(self) -> None:
        self.records.clear()
        self.release()


class _Collect(logging.Handler):
    def __init__(self, records: list):
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def choose_callbacks(trainer: Namespace) -> list:
    """The configured callbacks adjusted to where this run's output goes.

    The rich progress bar redraws in place, which a log file (nohup, SLURM's output, CI) receives
    as nothing for minutes: there `LogProgress` prints plain lines instead, and in a terminal the
    bar comes back. `--trainer.enable_progress_bar false` and `--trainer.enable_model_summary
    false` remove the default bar and summary.
    """
    from src.callbacks import LogProgress, ThrottledProgressBar

    bar = ThrottledProgressBar if sys.stdout.isatty() else LogProgress
    kept = []
    for callback in trainer.callbacks or []:
        kind = pydoc.locate(callback.class_path)
        if trainer.enable_progress_bar is False and issubclass(kind, ProgressBar):
            continue
        if trainer.enable_model_summary is False and issubclass(kind, ModelSummary):
            continue
        if kind in (ThrottledProgressBar, LogProgress) and kind is not bar:
            callback = Namespace(class_path=f"src.callbacks.{bar.__name__}", init_args=Namespace())
        kept.append(callback)
    return kept


# Lightning's start-up advice that does not apply to these runs: the rich summary is the one
# configured, the schedule asks for the run's length on purpose, litlogger is not used.
_NOISE = (
    "Trainer already configured with model summary callbacks",
    "Loading `train_dataloader` to estimate number of stepping batches",
    "💡 Tip:",
)


def quiet_known_noise() -> None:
    """Silence third-party lines that are not about the user's run (each named, with why).
    Called for every run: a caller's `warnings.catch_warnings` (pytest's) resets the filters."""
    # The CSV logger shares the run directory with config.yaml and wandb/ on purpose, and a
    # resume writes into its own checkpoints folder on purpose.
    warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not")
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    # The CLI always hands LightningCLI its arguments (a resume puts the run's config first).
    warnings.filterwarnings("ignore", message=r"LightningCLI's args parameter is intended")
    # Lightning 2.6's pytree helper on torch >= 2.10; not our code, harmless.
    warnings.filterwarnings(
        "ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning
    )
    # Logging steps count global steps, across epochs, and the models log per-epoch training
    # metrics besides: an epoch shorter than `log_every_n_steps` loses nothing.
    warnings.filterwarnings("ignore", message=r"The number of training batches .* is smaller than")
    # Lightning's SaveConfigCallback passes jsonargparse's deprecated `skip_none`.
    warnings.filterwarnings("ignore", message=r".*skip_none parameter was deprecated")
    for name in _LOGGERS:  # on the handlers: records from child loggers skip logger filters
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, _DropLines) for f in handler.filters):
                handler.addFilter(_DropLines())


class _DropLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.startswith(noise) for noise in _NOISE)
