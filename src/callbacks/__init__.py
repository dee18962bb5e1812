"""Callbacks the configs can add under `trainer.callbacks`."""

from src.callbacks.prediction_writer import PredictionWriter
from src.callbacks.resumable_checkpoint import ResumableCheckpoint
from src.callbacks.stop_on_nonfinite_loss import StopOnNonFiniteLoss

__all__ = ["PredictionWriter", "ResumableCheckpoint", "StopOnNonFiniteLoss"]
