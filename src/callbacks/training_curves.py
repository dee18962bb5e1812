from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn

from src.plots import plot_curves


class TrainingCurves(Callback):
    """Plots every metric in `metrics.csv` to `curves.png` in the run directory at the end of fit.

    For runs without W&B (CSV, TensorBoard, offline machines), the curves at a glance. Needs a
    CSVLogger, which the CLI always adds.

    Args:
        filename: Name of the PNG written into the run directory.
    """

    def __init__(self, filename: str = "curves.png"):
        self.filename = filename

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        csv_logger = next((lg for lg in trainer.loggers if isinstance(lg, CSVLogger)), None)
        if csv_logger is None:
            rank_zero_warn("TrainingCurves needs a CSVLogger to read metrics from; no curves.png")
            return
        csv_logger.save()  # the CSV is written in chunks: flush what is still buffered
        metrics_csv = Path(csv_logger.experiment.metrics_file_path)
        if metrics_csv.is_file():
            plot_curves(metrics_csv, Path(trainer.default_root_dir) / self.filename)
