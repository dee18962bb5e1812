"""LightningDataModules. Each exposes `num_classes` and `input_shape`, linked into the model."""

from src.data.digits import DigitsDataModule
from src.data.image_datamodule import ImageDataModule
from src.data.mnist import FashionMNISTDataModule, MNISTDataModule

__all__ = ["DigitsDataModule", "FashionMNISTDataModule", "ImageDataModule", "MNISTDataModule"]
