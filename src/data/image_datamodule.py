from pathlib import Path

import torch
from jsonargparse.typing import NonNegativeInt, OpenUnitInterval, PositiveInt
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from src.data.augment import random_crop, random_hflip
from src.data.decode_cache import FORMAT_VERSION, load_or_decode
from src.data.in_memory import InMemoryLoader
from src.data.normalize import Normalize
from src.data.split_datamodule import SplitDataModule
from src.data.splits import check_split_options, seeded_split


class ImageDataModule(SplitDataModule):
    """Base for image datasets small enough to decode once into a uint8 tensor.

    Subclasses implement `load(train)` and set the dataset's facts as class attributes (`mean`,
    `std`, `classes`, `dataset_name`). By default the decoded images move to the training device
    once and batches are sliced there by `InMemoryLoader`; the decoded tensors are cached under
    `<data_dir>/<dataset_name>/cache/` (written once in `prepare_data`, which Lightning runs on
    one process per node); normalisation and augmentation run batched in
    `on_after_batch_transfer`. With `in_memory: false` the same tensors go through a per-sample
    `Dataset` and a `DataLoader` with workers instead (the usual torchvision path).

    Args:
        data_dir: Where datasets are read from (and downloaded to, for downloadable ones).
        batch_size: Samples per batch on each device (the global batch is this times devices).
        val_split: Fraction of the training set held out for validation (seeded split).
        split_seed: Seed of the held-out splits, independent of the training seed.
        augment: Random crops (and flips, with `hflip`) of training batches.
        crop_padding: Pixels of zero padding around each image before the random crop.
        hflip: Mirror a random half of each training batch (for classes a mirror keeps).
        in_memory: Keep the decoded dataset on the training device and batch it there.
        cache: Save the decoded tensors next to the dataset and load them on later runs; delete
            the `cache/` folder to decode again.
        num_workers: DataLoader worker processes (only with `in_memory: false`).
        pin_memory: Page-locked host memory for faster copies to a GPU (`in_memory: false`).
        persistent_workers: Keep workers alive between epochs (`in_memory: false`).
    """

    #: Per-channel mean and std of the training images, in [0, 1] units.
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    #: Class names, index = label.
    classes: tuple[str, ...] = ()
    #: Folder of the dataset under `data_dir`, which also holds its decode cache.
    dataset_name: str = ""

    def __init__(
        self,
        data_dir: str | Path = "data",
        batch_size: PositiveInt = 128,
        val_split: OpenUnitInterval = 0.1,
        split_seed: int = 42,
        augment: bool = False,
        crop_padding: NonNegativeInt = 2,
        hflip: bool = False,
        in_memory: bool = True,
        cache: bool = True,
        num_workers: NonNegativeInt = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
    ):
        super().__init__()
        check_split_options(batch_size, num_workers, val_split=val_split)
        self.save_hyperparameters()
        self.data_dir = Path(data_dir)
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}
        self.normalize = Normalize(self.mean, self.std, image=True)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image; subclasses with fixed sizes override this."""
        raise NotImplementedError

    def load(self, train: bool) -> tuple[Tensor, Tensor]:
        """Decode the official train or test split: uint8 images (N, C, H, W), int64 labels (N,)."""
        raise NotImplementedError

    def cache_file(self, train: bool) -> Path | None:
        """Where the decoded split is cached, or None to decode on every run."""
        if not self.hparams.cache or not self.dataset_name:
            return None
        split = "train" if train else "test"
        return self.data_dir / self.dataset_name / "cache" / f"{split}-v{FORMAT_VERSION}.pt"

    def _decoded(self, train: bool) -> tuple[Tensor, Tensor]:
        path = self.cache_file(train)
        if path is None:
            return self.load(train)
        return load_or_decode(path, lambda: self.load(train))

    def prepare_data(self) -> None:
        for train in (True, False):  # fills the cache once, before any rank's `setup`
            self._decoded(train)

    def setup(self, stage: str) -> None:
        if self.splits:
            return
        images, labels = self._decoded(train=True)
        split = seeded_split(len(labels), {"val": self.hparams.val_split},
                             self.hparams.split_seed, "images")  # fmt: skip
        self.splits = {name: (images[i], labels[i]) for name, i in split.items()}
        self.splits["test"] = self.splits["predict"] = self._decoded(train=False)
        if self.hparams.in_memory and self.trainer is not None:
            device = self.trainer.strategy.root_device  # move once, not every batch
            self.splits = {k: (x.to(device), y.to(device)) for k, (x, y) in self.splits.items()}

    def split_size(self, split: str) -> int:
        return len(self.splits[split][1])

    def _loader(self, split: str):
        images, labels = self.splits[split]
        train = split == "train"
        if self.hparams.in_memory:
            trainer = self.trainer
            return InMemoryLoader(
                images,
                labels,
                self.hparams.batch_size,
                shuffle=train,
                drop_last=train and len(labels) > self.hparams.batch_size,
                seed=torch.initial_seed(),  # set by seed_everything: the same on every rank
                rank=trainer.global_rank if trainer else 0,
                world_size=trainer.world_size if trainer else 1,
            )
        workers = self.hparams.num_workers
        return DataLoader(
            _PerSampleDataset(images, labels, self.normalize, self._augment if train else None),
            batch_size=self.hparams.batch_size,
            shuffle=train,
            drop_last=train and len(labels) > self.hparams.batch_size,
            num_workers=workers,
            pin_memory=self.hparams.pin_memory,
            persistent_workers=self.hparams.persistent_workers and workers > 0,
        )

    def _augment(self, images: Tensor) -> Tensor:
        if not self.hparams.augment:
            return images
        images = random_crop(images, self.hparams.crop_padding)
        return random_hflip(images) if self.hparams.hflip else images

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        tensors = batch if isinstance(batch, list | tuple) else (batch,)
        if all(isinstance(t, Tensor) and t.device == device for t in tensors):
            return batch  # in-memory batches are sliced on the device: nothing to move
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels = batch
        if images.dtype == torch.uint8:  # in-memory path: the batch is still raw pixels
            if self.normalize.mean.device != images.device:  # moved once, not every batch
                self.normalize.to(images.device)
            images = self.normalize(images)
            if self.trainer is not None:
                if self.trainer.training:
                    images = self._augment(images)
                # what Lightning does to floating inputs before this hook (bf16-true, 64-true)
                images = self.trainer.precision_plugin.convert_input(images)
        return images, labels


class _PerSampleDataset(Dataset):
    """The per-sample path: one image at a time through the same normalisation and augmentation."""

    def __init__(self, images: Tensor, labels: Tensor, normalize, augment=None):
        self.images, self.labels, self.normalize, self.augment = images, labels, normalize, augment

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        image = self.normalize(self.images[i : i + 1])
        if self.augment is not None:
            image = self.augment(image)
        return image[0], self.labels[i]
