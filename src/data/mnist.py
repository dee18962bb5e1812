import math
import struct
from pathlib import Path

from jsonargparse.typing import NonNegativeInt
from torch import Tensor

from src.data.image_datamodule import ImageDataModule
from src.errors import UsageError


class MNISTDataModule(ImageDataModule):
    """MNIST handwritten digits (60k train / 10k test, 28x28 grayscale) through torchvision.

    Files live in torchvision's raw layout, `<data_dir>/MNIST/raw/*-ubyte`. They are downloaded
    there when missing and online; offline, point `data_dir` at a folder that already has them.
    Each file's header, size and labels are checked before it is decoded.

    Args:
        crop_padding: Pixels of zero padding around each image before the random crop.
        hflip: Mirror a random half of each training batch (digits: no, a mirrored 2 is no 2).
        **kwargs: See `ImageDataModule`.
    """

    mean = (0.1307,)
    std = (0.3081,)
    classes = tuple(str(i) for i in range(10))
    dataset_name = "MNIST"

    def __init__(self, crop_padding: NonNegativeInt = 2, hflip: bool = False, **kwargs):
        super().__init__(crop_padding=crop_padding, hflip=hflip, **kwargs)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (1, 28, 28)

    def _dataset_class(self):
        from torchvision import datasets  # imported here: keeps CLI start-up fast

        return getattr(datasets, self.dataset_name)

    def prepare_data(self) -> None:
        self._download()
        super().prepare_data()

    def _download(self) -> None:
        dataset_class = self._dataset_class()
        raw = self.data_dir / self.dataset_name / "raw"
        files = [Path(name).name.removesuffix(".gz") for name, _ in dataset_class.resources]
        if all((raw / name).exists() for name in files):
            return
        for train in (True, False):
            try:
                dataset_class(self.data_dir, train=train, download=True)
            except Exception as error:  # no network, a proxy page, a partial file...
                lines = [line.strip() for line in str(error).splitlines() if line.strip(" )")]
                raise UsageError(
                    f"{self.dataset_name} is not in {raw} and could not be downloaded "
                    f"({lines[-1] if lines else type(error).__name__}). "
                    f"Put the four *-ubyte files from torchvision's {self.dataset_name} there, "
                    f"or point --data.data_dir at a folder holding {self.dataset_name}/raw/."
                ) from None

    def load(self, train: bool) -> tuple[Tensor, Tensor]:
        raw = self.data_dir / self.dataset_name / "raw"
        prefix = "train" if train else "t10k"
        images, labels = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
        if not (images.is_file() and labels.is_file()):
            self._download()  # or stops with where to put the files
        n_images, n_labels = _check_idx(images, 3)[0], _check_idx(labels, 1)[0]
        if n_images != n_labels:
            raise UsageError(
                f"{images} holds {n_images} images but {labels} {n_labels} labels: "
                f"they are from different datasets; {_REPLACE}"
            )
        dataset = self._dataset_class()(self.data_dir, train=train, download=False)
        if dataset.targets.max() >= len(self.classes):
            raise UsageError(
                f"{labels} has label {dataset.targets.max()}, past the {len(self.classes)} "
                f"classes of {self.dataset_name}; {_REPLACE}"
            )
        return dataset.data.unsqueeze(1), dataset.targets.long()  # (N, 1, 28, 28) uint8, (N,)


_REPLACE = "replace the file with the original (delete it and run online to download it again)"


def _check_idx(path: Path, ndim: int) -> tuple[int, ...]:
    """The dimensions an idx file of uint8 values declares, checked against its size."""
    with path.open("rb") as f:
        header = f.read(4 + 4 * ndim)
    if len(header) < 4 + 4 * ndim or header[:4] != bytes([0, 0, 0x08, ndim]):
        raise UsageError(
            f"{path} is not an idx file of {ndim}-D uint8 data (it starts with "
            f"{header[:4].hex() or 'nothing'}, not 000008{ndim:02x}); {_REPLACE}"
        )
    dims = struct.unpack(f">{ndim}I", header[4:])
    size, expected = path.stat().st_size, len(header) + math.prod(dims)
    if size != expected:
        raise UsageError(
            f"{path} is {'truncated' if size < expected else 'too long'}: {size} bytes where "
            f"its header promises {expected}; {_REPLACE}"
        )
    return dims


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST (Zalando): MNIST's format and sizes, ten clothing classes.

    Args:
        crop_padding: Pixels of zero padding around each image before the random crop.
        hflip: Mirror a random half of each training batch (a mirrored shoe is still a shoe).
        **kwargs: See `ImageDataModule`.
    """

    mean = (0.2860,)
    std = (0.3530,)
    classes = (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    )  # fmt: skip
    dataset_name = "FashionMNIST"

    def __init__(self, crop_padding: NonNegativeInt = 2, hflip: bool = True, **kwargs):
        super().__init__(crop_padding=crop_padding, hflip=hflip, **kwargs)
