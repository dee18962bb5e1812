"""Callbacks the configs can add under `trainer.callbacks`."""

from src.callbacks.backbone_finetuning import NetBackboneFinetuning
from src.callbacks.prediction_writer import PredictionWriter

__all__ = ["NetBackboneFinetuning", "PredictionWriter"]
