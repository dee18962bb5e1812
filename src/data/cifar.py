import pickle
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from jsonargparse.typing import NonNegativeInt
from torch import Tensor

from src.data.image_datamodule import ImageDataModule
from src.errors import UsageError


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10 (50k train / 10k test, 32x32 RGB, 10 classes) in torchvision's layout.

    The python-pickle batches live in `<data_dir>/cifar-10-batches-py/`; they are downloaded
    there when missing and online. `augment` is the standard CIFAR recipe: random 32x32 crops of
    the 4-pixel zero-padded image and horizontal flips.

    Args:
        verify_checksums: Check every batch file's MD5 against torchvision's list before
            loading it (off for a re-packed or subsampled copy of the dataset).
        crop_padding: Pixels of zero padding around each image before the random crop.
        hflip: Mirror a random half of each training batch.
        **kwargs: See `ImageDataModule`.
    """

    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)
    dataset_name = "CIFAR10"
    n_classes = 10
    label_key = "labels"

    def __init__(
        self,
        verify_checksums: bool = True,
        crop_padding: NonNegativeInt = 4,
        hflip: bool = True,
        **kwargs,
    ):
        super().__init__(crop_padding=crop_padding, hflip=hflip, **kwargs)
        self.verify_checksums = verify_checksums

    @property
    def num_classes(self) -> int:
        return self.n_classes  # known before the files are read, for the CLI's links

    @cached_property
    def classes(self) -> tuple[str, ...]:
        return tuple(self._read(self._dataset_class().meta)[self._dataset_class().meta["key"]])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, 32, 32)

    def _dataset_class(self):
        from torchvision import datasets  # imported here: keeps CLI start-up fast

        return getattr(datasets, self.dataset_name)

    @property
    def folder(self) -> Path:
        return self.data_dir / self._dataset_class().base_folder

    def cache_file(self, train: bool) -> Path | None:
        """A decode of files whose checksums were not checked is cached apart from verified ones,
        so turning `verify_checksums` back on checks the files again."""
        path = super().cache_file(train)
        if path is None or self.verify_checksums:
            return path
        return path.with_name(path.stem + "-unverified" + path.suffix)

    def prepare_data(self) -> None:
        self._download()
        super().prepare_data()  # decode once into the cache, before any rank's `setup`

    def _download(self) -> None:
        dataset_class = self._dataset_class()
        names = [name for name, _ in dataset_class.train_list + dataset_class.test_list]
        if all((self.folder / name).is_file() for name in names):
            return
        try:
            dataset_class(self.data_dir, download=True)
        except Exception as error:  # no network, a proxy page, a partial file...
            raise UsageError(
                f"{self.dataset_name} is not in {self.folder} and could not be downloaded "
                f"({type(error).__name__}). Put torchvision's python version of the dataset "
                f"there, or point --data.data_dir at the folder holding {self.folder.name}/."
            ) from None

    def _read(self, entry) -> dict:
        """One pickle file of the dataset, given as torchvision lists it: (name, md5) or a dict."""
        name, md5 = (entry["filename"], entry["md5"]) if isinstance(entry, dict) else entry
        path = self.folder / name
        if not path.is_file():
            self._download()  # or stops with where to put the files
        from torchvision.datasets.utils import check_integrity

        if self.verify_checksums and not check_integrity(str(path), md5):
            raise UsageError(
                f"{path} does not match torchvision's MD5 checksum (corrupt or not the official "
                "file); re-download it, or set --data.verify_checksums false for your own copy"
            )
        try:
            with path.open("rb") as f:
                return pickle.load(f, encoding="latin1")
        except Exception as error:  # truncated, or not a pickle at all
            raise UsageError(
                f"{path} is not a readable CIFAR batch ({type(error).__name__}: {error}); "
                f"{_REPLACE}"
            ) from None

    def _batch(self, entry) -> tuple[np.ndarray, np.ndarray]:
        """One batch file's images (N, 3, 32, 32) uint8 and labels (N,), checked."""
        batch, path = self._read(entry), self.folder / entry[0]
        data, labels = batch.get("data"), batch.get(self.label_key)
        if (
            not isinstance(data, np.ndarray)
            or data.dtype != np.uint8
            or data.ndim != 2
            or data.shape[1] != 3 * 32 * 32
            or labels is None
            or len(labels) != len(data)
        ):
            raise UsageError(
                f"{path} does not hold N rows of 3x32x32 uint8 pixels and N "
                f"'{self.label_key}'; {_REPLACE}"
            )  # fmt: skip
        labels = np.asarray(labels)
        if labels.min() < 0 or labels.max() >= self.n_classes:
            raise UsageError(
                f"{path} has label {labels.max()}, past the {self.n_classes} classes of "
                f"{self.dataset_name}; {_REPLACE}"
            )
        return data.reshape(-1, 3, 32, 32), labels

    def load(self, train: bool) -> tuple[Tensor, Tensor]:
        dataset_class = self._dataset_class()
        files = dataset_class.train_list if train else dataset_class.test_list
        images, labels = zip(*(self._batch(entry) for entry in files), strict=True)
        images, labels = np.concatenate(images), np.concatenate(labels)
        return torch.from_numpy(images), torch.from_numpy(labels).long()  # (N, 3, 32, 32) uint8


_REPLACE = "replace it with the original file (delete it and run online to download it again)"


class CIFAR100DataModule(CIFAR10DataModule):
    """CIFAR-100: CIFAR-10's format, 100 fine-grained classes, in `<data_dir>/cifar-100-python/`."""

    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)
    dataset_name = "CIFAR100"
    n_classes = 100
    label_key = "fine_labels"
