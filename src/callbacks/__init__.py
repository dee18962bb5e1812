"""Callbacks the configs can add under `trainer.callbacks`."""

from src.callbacks.prediction_writer import PredictionWriter
from src.callbacks.save_config import SaveConfigToLoggers

__all__ = ["PredictionWriter", "SaveConfigToLoggers"]
