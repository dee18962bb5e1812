"""Callbacks the configs can add under `trainer.callbacks`."""

from src.callbacks.performance import PerformanceOptions
from src.callbacks.prediction_writer import PredictionWriter
from src.callbacks.progress_bar import ThrottledProgressBar

__all__ = ["PerformanceOptions", "PredictionWriter", "ThrottledProgressBar"]
