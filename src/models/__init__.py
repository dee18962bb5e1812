"""LightningModules: the training logic around an injected net.

`ResearchModule` is the small task-agnostic base (optimizer and schedule, per-epoch metrics, the
best monitored value); the others are thin subclasses of it, one per task.
"""

from src.models.autoencoder import Autoencoder
from src.models.image_classifier import ImageClassifier
from src.models.multilabel_classifier import MultiLabelClassifier
from src.models.regressor import Regressor
from src.models.research_module import ResearchModule

__all__ = ["Autoencoder", "ImageClassifier", "MultiLabelClassifier", "Regressor", "ResearchModule"]
