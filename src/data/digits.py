from pathlib import Path

import torch
from torch import Tensor

from src.data.image_datamodule import ImageDataModule


class DigitsDataModule(ImageDataModule):
    """scikit-learn's bundled handwritten digits: 1,797 8x8 grayscale images, no download.

    The dataset has no official test split, so a fixed, seeded 20% (by `split_seed`) is held out
    as the test set before the validation split is taken from the rest.
    """

    mean = (0.3053,)
    std = (0.3760,)
    classes = tuple(str(i) for i in range(10))
    crop_padding = 1
    test_fraction = 0.2
    dataset_name = "digits"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (1, 8, 8)

    def cache_file(self, train: bool) -> Path | None:
        path = super().cache_file(train)  # the held-out test set depends on split_seed
        return path and path.with_stem(f"{path.stem}-split{self.hparams.split_seed}")

    def load(self, train: bool) -> tuple[Tensor, Tensor]:
        from sklearn.datasets import load_digits  # imported here: keeps CLI start-up fast

        digits = load_digits()
        images = torch.from_numpy(digits.images * (255 / 16)).round().to(torch.uint8)
        labels = torch.from_numpy(digits.target).long()
        generator = torch.Generator().manual_seed(self.hparams.split_seed)
        order = torch.randperm(len(labels), generator=generator)
        n_test = round(len(labels) * self.test_fraction)
        keep = order[n_test:] if train else order[:n_test]
        return images[keep].unsqueeze(1), labels[keep]  # (N, 1, 8, 8), (N,)
