import platform
import shlex
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from src.files import SUMMARY_SECTIONS, DamagedFile, read_mapping, write_atomically

_SOURCE_DIR = Path(__file__).resolve().parents[2]


class RunSummary(Callback):
    """The facts needed to review or reproduce a run, in `summary.yaml` and the W&B run summary.

    At the start of fit: parameter counts, the git commit of the code and whether the tree had
    uncommitted changes, package versions, the command line. At the end of fit: the best value
    of the monitored metric and its checkpoint. After test: the test metrics.

    Args:
        packages: Distributions whose installed versions are recorded.
        filename: Name of the YAML file written into the run directory.
    """

    def __init__(
        self,
        packages: list[str] = ["torch", "lightning", "torchmetrics", "jsonargparse", "wandb"],  # noqa: B006 - never mutated; shown as the default in --help
        filename: str = "summary.yaml",
    ):
        self.packages = packages
        self.filename = filename
        self.summary: dict = {}

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        params = list(pl_module.parameters())
        self._update(
            trainer,
            params={
                "total": sum(p.numel() for p in params),
                "trainable": sum(p.numel() for p in params if p.requires_grad),
            },
            git=_git_state(),
            versions={"python": platform.python_version(), **_versions(self.packages)},
            command=shlex.join([Path(sys.executable).name, "-m", "src", *sys.argv[1:]]),
        )

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        checkpoint = trainer.checkpoint_callback
        if checkpoint is None or checkpoint.best_model_score is None:
            return
        best = {checkpoint.monitor: checkpoint.best_model_score.item()}
        self._update(trainer, best={**best, "checkpoint": checkpoint.best_model_path})

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        metrics = trainer.callback_metrics
        test = {k: v.item() for k, v in metrics.items() if k.startswith("test/")}
        self._update(trainer, test=test)

    @rank_zero_only
    def _update(self, trainer: Trainer, **entries) -> None:
        path = Path(trainer.default_root_dir) / self.filename
        if not self.summary:  # a resumed run: its best and test blocks stay
            try:
                self.summary = read_mapping(path, SUMMARY_SECTIONS) or {}
            except DamagedFile:  # a resume sets a damaged one aside first; never fail on it
                self.summary = {}
        self.summary.update(entries)
        write_atomically(path, yaml.safe_dump(self.summary, sort_keys=False))
        entries.pop("test", None)  # W&B's summary already holds the last logged test/* values
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger) and entries:
                logger.experiment.summary.update(entries)


def _git_state() -> dict | None:
    """Commit of the code that ran and whether it had uncommitted changes; None outside git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(_SOURCE_DIR), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.CalledProcessError):
        return None


def _versions(packages: list[str]) -> dict[str, str | None]:
    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {name: installed(name) for name in packages}
