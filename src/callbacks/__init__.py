"""Callbacks the configs can add under `trainer.callbacks`."""

from src.callbacks.backbone_finetuning import NetBackboneFinetuning
from src.callbacks.log_progress import LogProgress
from src.callbacks.performance import PerformanceOptions
from src.callbacks.prediction_writer import PredictionWriter
from src.callbacks.progress_bar import ThrottledProgressBar
from src.callbacks.resumable_checkpoint import ResumableCheckpoint
from src.callbacks.run_summary import RunSummary
from src.callbacks.save_config import SaveConfigToLoggers
from src.callbacks.stop_on_nonfinite_loss import StopOnNonFiniteLoss
from src.callbacks.throughput import Throughput
from src.callbacks.training_curves import TrainingCurves
from src.callbacks.validation_predictions import ValidationPredictions
from src.callbacks.validation_reconstructions import ValidationReconstructions
from src.callbacks.whitening_init import WhiteningInit

__all__ = [
    "LogProgress",
    "NetBackboneFinetuning",
    "PerformanceOptions",
    "PredictionWriter",
    "ResumableCheckpoint",
    "RunSummary",
    "SaveConfigToLoggers",
    "StopOnNonFiniteLoss",
    "ThrottledProgressBar",
    "Throughput",
    "TrainingCurves",
    "ValidationPredictions",
    "ValidationReconstructions",
    "WhiteningInit",
]
