"""LightningModules: the training logic around an injected net."""

from src.models.image_classifier import ImageClassifier

__all__ = ["ImageClassifier"]
