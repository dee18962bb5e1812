from pathlib import Path

from torch import Tensor

from src.data.image_datamodule import ImageDataModule
from src.errors import UsageError


class MNISTDataModule(ImageDataModule):
    """MNIST handwritten digits (60k train / 10k test, 28x28 grayscale) through torchvision.

    Files live in torchvision's raw layout, `<data_dir>/MNIST/raw/*-ubyte`. They are downloaded
    there when missing and online; offline, point `data_dir` at a folder that already has them.
    """

    mean = (0.1307,)
    std = (0.3081,)
    classes = tuple(str(i) for i in range(10))
    crop_padding = 2
    dataset_name = "MNIST"

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
        try:
            dataset = self._dataset_class()(self.data_dir, train=train, download=False)
        except RuntimeError:
            self._download()  # raises the clear message when the files are missing
            dataset = self._dataset_class()(self.data_dir, train=train, download=False)
        return dataset.data.unsqueeze(1), dataset.targets.long()  # (N, 1, 28, 28) uint8, (N,)


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST (Zalando): MNIST's format and sizes, ten clothing classes."""

    mean = (0.2860,)
    std = (0.3530,)
    classes = (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    )  # fmt: skip
    dataset_name = "FashionMNIST"
    hflip = True  # a mirrored shoe is still a shoe
