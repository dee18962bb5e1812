import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from src.data import ImageFolderDataModule
from src.errors import UsageError
from src.load_run import load_run
from tests.conftest import FAST, run_cli

CLASSES = ("circle", "square", "stripes")


def make_image_folder(root: Path, per_class: int = 12, counts: dict | None = None) -> Path:
    """`root/train/<class>/*.png` (plus a few .jpg): three visually distinct classes."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:24, :24]
    patterns = {
        "circle": ((yy - 12) ** 2 + (xx - 12) ** 2 < 60),
        "square": (abs(yy - 12) < 7) & (abs(xx - 12) < 7),
        "stripes": (xx // 3) % 2 == 0,
    }
    for name, mask in patterns.items():
        folder = root / "train" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range((counts or {}).get(name, per_class)):
            pixels = rng.integers(0, 60, (24, 24, 3)) + mask[..., None] * 180
            suffix = ".jpg" if i % 4 == 3 else ".png"
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{name}_{i}{suffix}")
    return root


def test_splits_classes_and_batches(tmp_path):
    dm = ImageFolderDataModule(data_dir=make_image_folder(tmp_path), image_size=16, batch_size=4,
                               num_workers=0)  # fmt: skip
    dm.setup("fit")
    assert dm.classes == CLASSES and dm.num_classes == 3 and dm.input_shape == (3, 16, 16)
    assert sum(len(dm.splits[s]) for s in ("train", "val", "test")) == 36
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (4, 3, 16, 16) and labels.shape == (4,)


def test_explicit_val_and_test_folders_are_used(tmp_path):
    make_image_folder(tmp_path)
    make_image_folder(tmp_path / "held_out", per_class=2)
    (tmp_path / "held_out" / "train").rename(tmp_path / "test")
    dm = ImageFolderDataModule(data_dir=tmp_path, num_workers=0)
    dm.setup("fit")
    assert len(dm.splits["test"]) == 6 and all("test" in str(p) for p, _ in dm.splits["test"])


@pytest.mark.parametrize("bad", ["notes.txt", "broken.png"])
def test_bad_file_names_the_file_or_is_skipped(bad, tmp_path):
    make_image_folder(tmp_path)
    (tmp_path / "train" / "square" / bad).write_bytes(b"not an image")
    with pytest.raises(UsageError, match=rf"{bad}.*--data.bad_files skip"):
        ImageFolderDataModule(data_dir=tmp_path, num_workers=0).setup("fit")
    dm = ImageFolderDataModule(data_dir=tmp_path, num_workers=0, bad_files="skip")
    with pytest.warns(UserWarning, match=bad):
        dm.setup("fit")
    assert sum(len(dm.splits[s]) for s in ("train", "val", "test")) == 36


def test_missing_train_folder_is_one_clear_error(tmp_path):
    with pytest.raises(UsageError, match="train"):
        ImageFolderDataModule(data_dir=tmp_path)


def test_balanced_sampling_evens_out_classes(tmp_path):
    make_image_folder(tmp_path, counts={"circle": 40, "square": 4, "stripes": 4})
    dm = ImageFolderDataModule(data_dir=tmp_path, image_size=8, batch_size=600, num_workers=0,
                               balanced_sampling=True, val_split=0.1, test_split=0.1)  # fmt: skip
    dm.setup("fit")
    dm.splits["train"] = dm.splits["train"] * 20  # more draws, a steadier frequency estimate
    _, labels = next(iter(dm.train_dataloader()))
    share = np.bincount(labels.numpy(), minlength=3) / len(labels)
    assert np.allclose(share, 1 / 3, atol=0.08)  # unbalanced it would be ~0.8 circles


def test_train_then_predict_a_folder_writes_named_rows(tmp_path, capsys):
    root = make_image_folder(tmp_path / "images")
    run_dir, _ = run_cli(
        ["fit", *FAST, "--model.net", "SmallCNN", "--model.net.channels", "[8, 16]",
         "--data", "ImageFolderDataModule", "--data.data_dir", str(root),
         "--data.image_size", "24", "--data.num_workers", "0", "--run.root", str(tmp_path)],
        capsys,
    )  # fmt: skip
    new = tmp_path / "new_images"
    new.mkdir()
    for i, src in enumerate(sorted((root / "train" / "circle").glob("*.png"))[:5]):
        (new / f"photo_{i}.png").write_bytes(src.read_bytes())
    predict_dir, _ = run_cli(
        ["predict", "--config", str(run_dir / "config.yaml"), "--ckpt_path",
         str(run_dir / "checkpoints" / "best.ckpt"), "--data.predict_dir", str(new)],
        capsys,
    )  # fmt: skip
    rows = list(csv.DictReader((predict_dir / "predictions.csv").open()))
    assert [Path(r["id"]).name for r in rows] == [f"photo_{i}.png" for i in range(5)]
    assert {r["label"] for r in rows} <= set(CLASSES)
    for row in rows:
        assert sum(float(row[f"prob/{c}"]) for c in CLASSES) == pytest.approx(1, abs=1e-4)


def test_class_names_travel_with_the_checkpoint(tmp_path, capsys):
    root = make_image_folder(tmp_path / "images", per_class=4)
    run_dir, _ = run_cli(
        ["fit", *FAST, "--model.net", "MLPNet", "--data", "ImageFolderDataModule",
         "--data.data_dir", str(root), "--data.image_size", "8", "--data.num_workers", "0",
         "--run.root", str(tmp_path)],
        capsys,
    )  # fmt: skip
    (root / "train" / "stripes").rename(root / "train" / "zebra")  # the folder changed later
    _, datamodule = load_run(run_dir)
    assert datamodule.classes == CLASSES
