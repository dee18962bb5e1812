"""LightningModules: the training logic around an injected net."""

from src.models.image_classifier import ImageClassifier
from src.models.multilabel_classifier import MultiLabelClassifier
from src.models.regressor import Regressor

__all__ = ["ImageClassifier", "MultiLabelClassifier", "Regressor"]
