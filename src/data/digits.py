from pathlib import Path

import torch
from jsonargparse.typing import NonNegativeInt, OpenUnitInterval
from torch import Tensor

from src.data.image_datamodule import ImageDataModule
from src.data.splits import check_split_options, seeded_split


class DigitsDataModule(ImageDataModule):
    """scikit-learn's bundled handwritten digits: 1,797 8x8 grayscale images, no download.

    The dataset has no official test split, so a seeded `test_split` (by `split_seed`) is held
    out as the test set before the validation split is taken from the rest.

    Args:
        test_split: Fraction of all images held out as the test set.
        crop_padding: Pixels of zero padding around each image before the random crop.
        hflip: Mirror a random half of each training batch (digits: no, a mirrored 2 is no 2).
        **kwargs: See `ImageDataModule`.
    """

    mean = (0.3053,)
    std = (0.3760,)
    classes = tuple(str(i) for i in range(10))
    dataset_name = "digits"

    def __init__(
        self,
        test_split: OpenUnitInterval = 0.2,
        crop_padding: NonNegativeInt = 1,
        hflip: bool = False,
        **kwargs,
    ):
        check_split_options(test_split=test_split)
        super().__init__(crop_padding=crop_padding, hflip=hflip, **kwargs)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (1, 8, 8)

    def cache_file(self, train: bool) -> Path | None:
        path = super().cache_file(train)  # the held-out test set depends on the split options
        split = f"-split{self.hparams.split_seed}-test{self.hparams.test_split}"
        return path and path.with_stem(path.stem + split)

    def load(self, train: bool) -> tuple[Tensor, Tensor]:
        from sklearn.datasets import load_digits  # imported here: keeps CLI start-up fast

        digits = load_digits()
        images = torch.from_numpy(digits.images * (255 / 16)).round().to(torch.uint8)
        labels = torch.from_numpy(digits.target).long()
        split = seeded_split(len(labels), {"test": self.hparams.test_split},
                             self.hparams.split_seed, "images")  # fmt: skip
        keep = split["train" if train else "test"]
        return images[keep].unsqueeze(1), labels[keep]  # (N, 1, 8, 8), (N,)
