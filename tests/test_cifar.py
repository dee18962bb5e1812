import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from src.data import CIFAR10DataModule, CIFAR100DataModule
from src.errors import UsageError
from tests.conftest import FAST, run_cli


def make_cifar(root: Path, dataset_class, per_file: int = 20) -> Path:
    """Small pickle batches in torchvision's layout; class c images have mean brightness ~ c."""
    folder = root / dataset_class.base_folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    label_key = "fine_labels" if dataset_class.__name__ == "CIFAR100" else "labels"
    n_classes = 100 if dataset_class.__name__ == "CIFAR100" else 10
    for name, _ in dataset_class.train_list + dataset_class.test_list:
        labels = rng.integers(0, n_classes, per_file)
        data = rng.integers(0, 50, (per_file, 3 * 32 * 32)) + (labels[:, None] * 20) % 200
        batch = {"data": data.astype(np.uint8), label_key: labels.tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    names = [f"class_{i}" for i in range(n_classes)]
    (folder / dataset_class.meta["filename"]).write_bytes(
        pickle.dumps({dataset_class.meta["key"]: names})
    )
    return root


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory) -> Path:
    from torchvision.datasets import CIFAR10, CIFAR100

    root = tmp_path_factory.mktemp("cifar")
    make_cifar(root, CIFAR10)
    make_cifar(root, CIFAR100)
    return root


@pytest.mark.parametrize(
    ("module", "n_classes"), [(CIFAR10DataModule, 10), (CIFAR100DataModule, 100)]
)
def test_cifar_loads_the_pickle_batches(module, n_classes, cifar_root):
    dm = module(data_dir=cifar_root, verify_checksums=False, batch_size=16)
    dm.setup("fit")
    assert dm.num_classes == n_classes and dm.input_shape == (3, 32, 32)
    assert dm.classes[:2] == ("class_0", "class_1")
    n_train = 20 * len(dm._dataset_class().train_list)  # CIFAR-10 has 5 train files, -100 one
    assert sum(len(y) for x, y in (dm.splits["train"], dm.splits["val"])) == n_train
    assert len(dm.splits["test"][1]) == 20
    images, labels = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert images.shape == (16, 3, 32, 32) and images.dtype == torch.float32
    assert labels.max() < n_classes


def test_cifar_checksums_are_checked_by_default(cifar_root):
    dm = CIFAR10DataModule(data_dir=cifar_root)
    with pytest.raises(UsageError, match=r"data_batch_1 does not match .*verify_checksums false"):
        dm.setup("fit")


def test_cifar_missing_offline_names_the_folder(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(CIFAR10, "download", offline)
    with pytest.raises(UsageError, match="cifar-10-batches-py"):
        CIFAR10DataModule(data_dir=tmp_path).setup("fit")


def test_cifar_experiment_runs_a_tiny_fit(cifar_root, tmp_path, capsys):
    run_dir, _ = run_cli(
        ["fit", "--config", "configs/cifar10.yaml", *FAST, "--data.data_dir", str(cifar_root),
         "--data.verify_checksums", "false", "--data.batch_size", "16",
         "--run.root", str(tmp_path)],
        capsys,
    )  # fmt: skip
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()


def test_cifar10_speedrun_config_trains_on_cpu(cifar_root, tmp_path, capsys):
    # The GPU recipe as written (AirbenchNet, whitening init, bf16, channels_last), on a small
    # subset; only torch.compile is off, its CPU compile alone would take a minute.
    run_dir, _ = run_cli(
        ["fit", "--config", "configs/cifar10_speedrun.yaml", *FAST,
         "--data.data_dir", str(cifar_root), "--data.verify_checksums", "false",
         "--data.batch_size", "16", "--perf.compile", "false", "--run.root", str(tmp_path)],
        capsys,
    )  # fmt: skip
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["trainer"]["precision"] == "bf16-mixed" and saved["perf"]["channels_last"]
    callbacks = [c["class_path"] for c in saved["trainer"]["callbacks"]]
    assert "src.callbacks.WhiteningInit" in callbacks
    assert "src.callbacks.ValidationPredictions" in callbacks  # appended to, not replacing
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
