import warnings
from pathlib import Path
from typing import Literal

import torch
from jsonargparse.typing import OpenUnitInterval, PositiveInt
from torch.utils.data import DataLoader, WeightedRandomSampler

from src.data.image_files import ImageFiles
from src.data.split_datamodule import SplitDataModule
from src.errors import UsageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class ImageFolderDataModule(SplitDataModule):
    """Your own images: `root/train/<class>/*.png|jpg`, optional `root/val/` and `root/test/`.

    Class names are the sorted folder names under `train/` (saved in the checkpoints too).
    Without `val/` or `test/`, seeded fractions of `train/` are held out. Images are decoded per
    sample by DataLoader workers (folders need not fit in memory), resized to `image_size`
    squares, and normalised. Every file is checked when the splits are built, so a corrupt or
    non-image file stops the run with its path (or is skipped, with `bad_files: skip`) instead
    of failing later inside a worker.

    Args:
        root: The folder holding `train/` (and optionally `val/`, `test/`).
        predict_dir: A folder of images (searched recursively) for `predict`; null predicts
            the test split. Predictions are written with each image's path.
        image_size: Images are resized to this height and width.
        grayscale: Load images as one gray channel instead of RGB.
        augment: Random crops (padding of 1/8 of the size) and horizontal flips in training.
        balanced_sampling: Draw training images with probability inverse to their class's
            frequency (with replacement), so rare classes are seen as often as common ones.
        bad_files: What a corrupt or non-image file does: stop with an error, or be skipped
            with a warning.
        mean: Per-channel normalisation mean (ImageNet's by default, for pretrained nets).
        std: Per-channel normalisation standard deviation.
        batch_size: Images per batch.
        val_split: Fraction of `train/` held out for validation when there is no `val/`.
        test_split: Fraction of `train/` held out for testing when there is no `test/`.
        split_seed: Seed of the held-out splits.
        num_workers: DataLoader worker processes decoding images.
    """

    def __init__(
        self,
        root: str = "images",
        predict_dir: str | None = None,
        image_size: PositiveInt = 64,
        grayscale: bool = False,
        augment: bool = True,
        balanced_sampling: bool = False,
        bad_files: Literal["error", "skip"] = "error",
        mean: tuple[float, ...] = (0.485, 0.456, 0.406),
        std: tuple[float, ...] = (0.229, 0.224, 0.225),
        batch_size: PositiveInt = 32,
        val_split: OpenUnitInterval = 0.2,
        test_split: OpenUnitInterval = 0.2,
        split_seed: int = 42,
        num_workers: int = 2,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.root = Path(root)
        train = self.root / "train"
        if not train.is_dir():
            raise UsageError(f"no {train}/: put images in {train}/<class name>/ or set --data.root")
        self.classes = tuple(sorted(d.name for d in train.iterdir() if d.is_dir()))
        if not self.classes:
            raise UsageError(f"{train}/ has no class folders; put images in {train}/<class>/")
        self.splits: dict[str, list[tuple[Path, int]]] = {}

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        size = self.hparams.image_size
        return (1 if self.hparams.grayscale else 3, size, size)

    def state_dict(self) -> dict:
        return {"classes": list(self.classes)}  # stored in checkpoints: names for predictions

    def load_state_dict(self, state_dict: dict) -> None:
        self.classes = tuple(state_dict["classes"])

    def setup(self, stage: str) -> None:
        if self.splits:
            return
        samples = self._labelled(self.root / "train")
        generator = torch.Generator().manual_seed(self.hparams.split_seed)
        order = torch.randperm(len(samples), generator=generator).tolist()
        samples = [samples[i] for i in order]
        for split, fraction in (("test", self.hparams.test_split), ("val", self.hparams.val_split)):
            if (self.root / split).is_dir():
                self.splits[split] = self._labelled(self.root / split)
            else:
                n = max(1, round(len(samples) * fraction))
                self.splits[split], samples = samples[:n], samples[n:]
        if not samples:
            raise UsageError(f"no training images left in {self.root / 'train'} after the splits")
        self.splits["train"] = samples
        predict_dir = self.hparams.predict_dir
        self.splits["predict"] = (
            [(p, -1) for p in self._images(Path(predict_dir), recursive=True)]
            if predict_dir
            else self.splits["test"]
        )
        self.predict_ids = [str(path) for path, _ in self.splits["predict"]]

    def _labelled(self, folder: Path) -> list[tuple[Path, int]]:
        samples = []
        for label, name in enumerate(self.classes):
            samples += [(p, label) for p in self._images(folder / name)]
        if not samples:
            raise UsageError(f"no readable images in {folder}/<class>/")
        return samples

    def _images(self, folder: Path, recursive: bool = False) -> list[Path]:
        """The image files in `folder`, each checked to decode; sorted for reproducibility."""
        from PIL import Image

        if recursive and not folder.is_dir():
            raise UsageError(f"--data.predict_dir {folder} is not a folder")
        paths = folder.rglob("*") if recursive else folder.glob("*")
        images = []
        for path in sorted(p for p in paths if p.is_file() and not p.name.startswith(".")):
            try:
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    raise ValueError("not an image file extension")
                with Image.open(path) as image:
                    image.verify()  # reads the structure without decoding all pixels
            except Exception as error:
                message = f"cannot read image {path} ({error})"
                if self.hparams.bad_files == "error":
                    raise UsageError(f"{message}; remove it or set --data.bad_files skip") from None
                warnings.warn(f"skipping {message}", stacklevel=2)
                continue
            images.append(path)
        if recursive and not images:
            raise UsageError(f"no readable images under --data.predict_dir {folder}")
        return images

    def _transform(self, train: bool):
        from torchvision.transforms import v2

        size, channels = self.hparams.image_size, self.input_shape[0]
        steps = [v2.Resize((size, size), antialias=True)]
        if train and self.hparams.augment:
            steps += [v2.RandomCrop(size, padding=size // 8), v2.RandomHorizontalFlip()]
        steps += [
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(self.hparams.mean[:channels], self.hparams.std[:channels]),
        ]
        return v2.Compose(steps)

    def _loader(self, split: str) -> DataLoader:
        samples, train = self.splits[split], split == "train"
        sampler = None
        if train and self.hparams.balanced_sampling:
            labels = torch.tensor([y for _, y in samples])
            weights = 1.0 / torch.bincount(labels, minlength=self.num_classes)[labels]
            sampler = WeightedRandomSampler(weights, num_samples=len(samples), replacement=True)
        workers = self.hparams.num_workers
        return DataLoader(
            ImageFiles(samples, self._transform(train), self.hparams.grayscale),
            batch_size=self.hparams.batch_size,
            shuffle=train and sampler is None,
            sampler=sampler,
            drop_last=train and len(samples) > self.hparams.batch_size,
            num_workers=workers,
            persistent_workers=workers > 0,
        )
