"""LightningDataModules. Each exposes `num_classes` and `input_shape`, linked into the model."""

from src.data.cifar import CIFAR10DataModule, CIFAR100DataModule
from src.data.csv_datamodule import CSVDataModule
from src.data.diabetes import DiabetesDataModule
from src.data.digits import DigitsDataModule
from src.data.image_datamodule import ImageDataModule
from src.data.image_folder import ImageFolderDataModule
from src.data.mnist import FashionMNISTDataModule, MNISTDataModule
from src.data.tabular_datamodule import TabularDataModule

__all__ = [
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "CSVDataModule",
    "DiabetesDataModule",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "ImageDataModule",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "TabularDataModule",
]
