import warnings
from pathlib import Path
from typing import Literal

import torch
from jsonargparse.typing import NonNegativeInt, OpenUnitInterval, PositiveInt
from torch.utils.data import DataLoader, WeightedRandomSampler

from src.data.image_files import ImageFiles, find_images
from src.data.normalize import Normalize
from src.data.split_datamodule import SplitDataModule
from src.data.splits import check_split_options, seeded_split
from src.errors import UsageError


class ImageFolderDataModule(SplitDataModule):
    """Your own images: `data_dir/train/<class>/*.png|jpg`, optional `val/` and `test/` beside it.

    Class names are the sorted folder names under `train/` (saved in the checkpoints too); each
    needs at least one image, and `val/` and `test/` may hold no class that `train/` lacks.
    Without `val/` or `test/`, seeded fractions of `train/` are held out. Images are decoded per
    sample by DataLoader workers (folders need not fit in memory) in any mode Pillow reads
    (16-bit, palette, CMYK, transparent: see `decode_image`), resized to `image_size` squares,
    and normalised. Every file is checked when the splits are built, so a corrupt or non-image
    file stops the run with its path (or is skipped, with `bad_files: skip`) instead of failing
    later inside a worker.

    Args:
        data_dir: The folder holding `train/` (and optionally `val/`, `test/`).
        predict_dir: A folder of images (searched recursively) for `predict`; null predicts
            the test split. Predictions are written with each image's path.
        image_size: Images are resized to this height and width.
        grayscale: Load images as one gray channel instead of RGB.
        augment: Random crops (and flips, with `hflip`) of training images.
        crop_padding: Pixels of zero padding around each resized image before the random crop.
        hflip: Mirror a random half of the training images (for classes a mirror keeps).
        balanced_sampling: Draw training images with probability inverse to their class's
            frequency (with replacement), so rare classes are seen as often as common ones.
        bad_files: What a corrupt or non-image file does: stop with an error, or be skipped
            with a warning.
        mean: Per-channel normalisation mean in [0, 1] units (ImageNet's by default, for
            pretrained nets); gray images take the first value.
        std: Per-channel normalisation standard deviation.
        batch_size: Images per batch on each device.
        val_split: Fraction of `train/` held out for validation when there is no `val/`.
        test_split: Fraction of `train/` held out for testing when there is no `test/`.
        split_seed: Seed of the held-out splits, independent of the training seed.
        num_workers: DataLoader worker processes decoding images.
        root: The old name of `data_dir`, still read (with a warning) so that older configs
            and runs load.
    """

    def __init__(
        self,
        data_dir: str | Path = "images",
        predict_dir: str | Path | None = None,
        image_size: PositiveInt = 64,
        grayscale: bool = False,
        augment: bool = True,
        crop_padding: NonNegativeInt = 8,
        hflip: bool = True,
        balanced_sampling: bool = False,
        bad_files: Literal["error", "skip"] = "error",
        mean: tuple[float, ...] = (0.485, 0.456, 0.406),
        std: tuple[float, ...] = (0.229, 0.224, 0.225),
        batch_size: PositiveInt = 32,
        val_split: OpenUnitInterval = 0.2,
        test_split: OpenUnitInterval = 0.2,
        split_seed: int = 42,
        num_workers: NonNegativeInt = 2,
        root: str | Path | None = None,
    ):
        super().__init__()
        if root is not None:
            warnings.warn("--data.root is now --data.data_dir: rename it", FutureWarning, 2)
            data_dir = root
        check_split_options(batch_size, num_workers, val_split=val_split, test_split=test_split)
        self.save_hyperparameters()
        self.data_dir = Path(data_dir)
        train = self.data_dir / "train"
        if not train.is_dir():
            raise UsageError(
                f"no {train}/: put images in {train}/<class name>/ or set --data.data_dir"
            )
        self.classes = tuple(sorted(d.name for d in train.iterdir() if d.is_dir()))
        if len(self.classes) < 2:
            raise UsageError(
                f"{train}/ has class folders {list(self.classes)}: a classifier needs two or "
                f"more, each a folder of its images in {train}/<class name>/"
            )
        channels = self.input_shape[0]
        if len(mean) not in (1, channels, 3) or len(std) != len(mean) or min(std) <= 0:
            raise UsageError(
                f"--data.mean {list(mean)} and --data.std {list(std)} need one value per "
                f"channel ({channels}), and positive stds"
            )
        self.mean, self.std = tuple(mean[:channels]), tuple(std[:channels])
        self.normalize = Normalize(self.mean, self.std, image=True)
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
        samples = self._labelled(self.data_dir / "train")
        missing = {s: f for s, f in (("test", self.hparams.test_split),
                                     ("val", self.hparams.val_split))
                   if not (self.data_dir / s).is_dir()}  # fmt: skip
        split = seeded_split(len(samples), missing, self.hparams.split_seed, "images")
        self.splits = {name: [samples[i] for i in rows] for name, rows in split.items()}
        for name in {"val", "test"} - missing.keys():
            self.splits[name] = self._labelled(self.data_dir / name)
        predict_dir = self.hparams.predict_dir
        self.splits["predict"] = (
            [(p, -1) for p in self._images(Path(predict_dir), recursive=True)]
            if predict_dir
            else self.splits["test"]
        )

    def split_size(self, split: str) -> int:
        return len(self.splits[split])

    @property
    def predict_ids(self) -> dict[str, list]:
        """Each predicted image's file path."""
        return {"id": [str(path) for path, _ in self.splits["predict"]]}

    def _labelled(self, folder: Path) -> list[tuple[Path, int]]:
        unknown = sorted({d.name for d in folder.iterdir() if d.is_dir()} - set(self.classes))
        if unknown:
            raise UsageError(
                f"{folder}/ has class folders {unknown} that {self.data_dir / 'train'}/ lacks, "
                "so the model could never predict them: add training images or remove them"
            )
        samples = []
        for label, name in enumerate(self.classes):
            images = self._images(folder / name) if (folder / name).is_dir() else []
            if not images and folder.name == "train":
                raise UsageError(
                    f"{folder / name}/ has no readable images, so class {name!r} is never "
                    "seen in training: add images or remove the folder"
                )
            samples += [(p, label) for p in images]
        if not samples:
            raise UsageError(f"no readable images in {folder}/<class>/")
        return samples

    def _images(self, folder: Path, recursive: bool = False) -> list[Path]:
        return find_images(folder, recursive, self.hparams.bad_files)

    def _transform(self, train: bool):
        from torchvision.transforms import v2

        size = self.hparams.image_size
        steps = [v2.Resize((size, size), antialias=True)]
        if train and self.hparams.augment:
            steps.append(v2.RandomCrop(size, padding=self.hparams.crop_padding))
            steps += [v2.RandomHorizontalFlip()] if self.hparams.hflip else []
        return v2.Compose([*steps, self.normalize])

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
