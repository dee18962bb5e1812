"""Callbacks the configs can add under `trainer.callbacks`."""

from src.callbacks.performance import PerformanceOptions
from src.callbacks.prediction_writer import PredictionWriter
from src.callbacks.progress_bar import ThrottledProgressBar
from src.callbacks.whitening_init import WhiteningInit

__all__ = ["PerformanceOptions", "PredictionWriter", "ThrottledProgressBar", "WhiteningInit"]
