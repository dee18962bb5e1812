from urllib.error import URLError

import pytest
import torch

from src.data import DigitsDataModule, FashionMNISTDataModule, MNISTDataModule
from src.data.augment import random_crop, random_hflip
from src.data.in_memory import InMemoryLoader
from src.errors import UsageError


def test_digits_splits_are_seeded_and_disjoint():
    dm = DigitsDataModule(val_split=0.2)
    dm.setup("fit")
    sizes = {k: len(v[1]) for k, v in dm.splits.items()}
    assert sizes["train"] + sizes["val"] + sizes["test"] == 1797
    assert dm.input_shape == (1, 8, 8) and dm.num_classes == 10
    again = DigitsDataModule(val_split=0.2)
    again.setup("fit")
    assert torch.equal(dm.splits["val"][0], again.splits["val"][0])
    other = DigitsDataModule(val_split=0.2, split_seed=1)
    other.setup("fit")
    assert not torch.equal(dm.splits["val"][0], other.splits["val"][0])


@pytest.mark.parametrize("dm_class", [MNISTDataModule, FashionMNISTDataModule])
def test_mnist_idx_files_load(dm_class, mnist_root):
    dm = dm_class(data_dir=mnist_root, batch_size=32, val_split=0.25)
    dm.prepare_data()
    dm.setup("fit")
    images, labels = dm.splits["train"]
    assert images.shape == (192, 1, 28, 28) and images.dtype == torch.uint8
    assert len(dm.splits["val"][1]) == 64 and len(dm.splits["test"][1]) == 64
    # the fixture draws class c as a bright bar at rows 2+2c: the labels must match the pixels
    rows = images[:, 0, :, 10].float().argmax(dim=1)
    assert torch.equal((rows - 2) // 2, labels)
    x, y = next(iter(dm.train_dataloader()))
    x, y = dm.on_after_batch_transfer((x, y), 0)
    assert x.dtype == torch.float32 and x.shape == (32, 1, 28, 28) and y.shape == (32,)


def test_missing_dataset_offline_says_where_to_put_files(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", no_network)
    dm = MNISTDataModule(data_dir=tmp_path)
    with pytest.raises(UsageError, match=r"MNIST/raw.*--data.data_dir") as error:
        dm.prepare_data()
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"val_split": 1.0}, {"val_split": 0}])
def test_bad_values_are_rejected(kwargs):
    with pytest.raises(UsageError):
        DigitsDataModule(**kwargs)


def test_in_memory_loader_covers_every_sample_and_reshuffles():
    x, y = torch.arange(100).view(100, 1), torch.arange(100)
    loader = InMemoryLoader(x, y, batch_size=16, shuffle=True, seed=3)
    first = torch.cat([b for _, b in loader])
    assert len(loader) == 7 and sorted(first.tolist()) == list(range(100))
    assert torch.equal(first, torch.cat([b for _, b in loader]))  # same epoch, same order
    loader.set_epoch(1)
    assert not torch.equal(first, torch.cat([b for _, b in loader]))


def test_in_memory_loader_shards_for_ddp():
    x, y = torch.arange(10).view(10, 1), torch.arange(10)
    shards = [
        torch.cat([b for _, b in InMemoryLoader(x, y, 2, shuffle=True, rank=r, world_size=3)])
        for r in range(3)
    ]
    assert all(len(s) == 4 for s in shards)  # padded to equal length, as DDP needs
    assert set(torch.cat(shards).tolist()) == set(range(10))


def test_per_sample_path_matches_in_memory_path():
    batches = {}
    for in_memory in (True, False):
        dm = DigitsDataModule(batch_size=8, in_memory=in_memory)
        dm.setup("test")
        x, y = next(iter(dm.test_dataloader()))
        batches[in_memory] = dm.on_after_batch_transfer((x, y), 0)
    assert torch.allclose(batches[True][0], batches[False][0])
    assert torch.equal(batches[True][1], batches[False][1])


def test_batched_augmentation_shifts_and_flips():
    images = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4) + 1
    cropped = random_crop(images, padding=1)
    assert cropped.shape == images.shape
    # each crop is the image shifted by at most one pixel
    for original, crop in zip(images, cropped, strict=True):
        shifted = [
            torch.nn.functional.pad(original, (1, 1, 1, 1))[:, dy : dy + 4, dx : dx + 4]
            for dy in range(3)
            for dx in range(3)
        ]
        assert any(torch.equal(crop, s) for s in shifted)
    flipped = random_hflip(images)
    for original, out in zip(images, flipped, strict=True):
        assert torch.equal(out, original) or torch.equal(out, original.flip(-1))


def test_decoded_splits_are_cached_on_disk(mnist_root, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(mnist_root / "MNIST", tmp_path / "MNIST")
    first = MNISTDataModule(data_dir=tmp_path)
    first.prepare_data()
    assert {p.name for p in (tmp_path / "MNIST" / "cache").iterdir()} == {
        "train-v1.pt",
        "test-v1.pt",
    }
    first.setup("fit")

    def no_decoding(self, train):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(MNISTDataModule, "load", no_decoding)
    again = MNISTDataModule(data_dir=tmp_path)
    again.setup("fit")
    for split in ("train", "val", "test"):
        assert all(map(torch.equal, first.splits[split], again.splits[split]))
    with pytest.raises(AssertionError, match="decoded again"):
        MNISTDataModule(data_dir=tmp_path, cache=False).setup("fit")


def test_in_memory_training_is_reproducible_from_the_seed(tmp_path, capsys):
    from tests.conftest import FAST, run_cli

    states = []
    for seed in (7, 7, 8):
        run_dir, _ = run_cli(
            ["fit", *FAST, "--data.augment", "true", "--trainer.limit_train_batches", "4",
             "--seed_everything", str(seed), "--run.root", str(tmp_path)],
            capsys,
        )  # fmt: skip
        states.append(torch.load(run_dir / "checkpoints" / "last.ckpt")["state_dict"])
    same = [torch.equal(states[0][k], states[1][k]) for k in states[0]]
    other = [torch.equal(states[0][k], states[2][k]) for k in states[0]]
    assert all(same) and not all(other)


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_a_damaged_decode_cache_is_rebuilt_with_one_warning(damage, mnist_root, tmp_path):
    import shutil
    import warnings

    shutil.copytree(mnist_root / "MNIST", tmp_path / "MNIST")
    first = MNISTDataModule(data_dir=tmp_path)
    first.prepare_data()
    first.setup("fit")
    cache = tmp_path / "MNIST" / "cache" / "train-v1.pt"
    if damage == "truncated":  # a full disk, or a copy that stopped
        cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 3])
    else:  # some other file saved under its name
        torch.save({"images": torch.zeros(3)}, cache)
    again = MNISTDataModule(data_dir=tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again.setup("fit")
    messages = [str(w.message) for w in caught if "decode cache" in str(w.message)]
    assert len(messages) == 1 and "train-v1.pt is unreadable" in messages[0], messages
    for split in ("train", "val", "test"):
        assert all(map(torch.equal, first.splits[split], again.splits[split]))
    assert torch.equal(torch.load(cache, weights_only=True)["images"], first._decoded(True)[0])


def test_a_split_that_leaves_little_to_train_on_warns_once():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm = DigitsDataModule(val_split=0.999)
        dm.setup("fit")
    messages = [str(w.message) for w in caught]
    assert messages == [
        "--data.val_split 0.999 leaves 1 of 1438 images for training: "
        "lower it unless you mean to train on so few"
    ]
    assert len(dm.splits["train"][1]) == 1


def test_crop_padding_and_flips_are_arguments_with_each_datasets_defaults():
    from src.data import CIFAR10DataModule

    assert (MNISTDataModule().hparams.crop_padding, MNISTDataModule().hparams.hflip) == (2, False)
    assert FashionMNISTDataModule().hparams.hflip is True  # a mirrored shoe is still a shoe
    assert DigitsDataModule().hparams.crop_padding == 1
    cifar = CIFAR10DataModule(crop_padding=0, hflip=False)
    assert (cifar.hparams.crop_padding, cifar.hparams.hflip) == (0, False)
    images = torch.rand(64, 3, 4, 4)
    assert torch.equal(cifar._augment(images), images)  # augment off: untouched
    cifar.hparams.augment = True
    assert torch.equal(cifar._augment(images), images)  # no padding, no flips: still untouched


@pytest.mark.parametrize(
    ("class_name", "expected"),
    [
        ("ImageFolderDataModule", {"augment": True, "val_split": 0.2, "num_workers": 2,
                                   "batch_size": 32, "crop_padding": 8, "hflip": True}),
        ("FashionMNISTDataModule", {"augment": False, "val_split": 0.1, "num_workers": 0,
                                    "batch_size": 128, "crop_padding": 2, "hflip": True}),
        ("CIFAR10DataModule", {"crop_padding": 4, "hflip": True, "verify_checksums": True}),
        ("DigitsDataModule", {"crop_padding": 1, "hflip": False, "test_split": 0.2}),
        ("CSVDataModule", {"val_split": 0.1, "test_split": 0.2, "batch_size": 64}),
    ],
)  # fmt: skip
def test_each_signature_carries_its_own_defaults(class_name, expected):
    """What `--data <Class>` runs with is what jsonargparse reads from the class's signature."""
    from jsonargparse import ArgumentParser

    import src.data

    parser = ArgumentParser()
    parser.add_class_arguments(getattr(src.data, class_name), "data")
    defaults = parser.get_defaults().data
    assert {key: defaults[key] for key in expected} == expected
