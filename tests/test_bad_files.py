"""Broken data files, data values and nets, as users produce them: each stops the run before
training with one `error:` line naming the file or option and the fix, exit code 2, no
traceback, no new run directory, and earlier runs left byte for byte as they were."""

import pickle
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from src.cli import main
from tests.conftest import FAST, assert_one_error_line, fingerprint, make_mnist_like, write_idx
from tests.test_cifar import make_cifar

# --- broken inputs, written the way users break them ---------------------------------------


def _mnist(tmp: Path, damage: Callable[[Path], None]) -> list[str]:
    make_mnist_like(tmp, "MNIST", n_train=64, n_test=16)
    damage(tmp / "MNIST" / "raw")
    return ["--data", "MNISTDataModule", "--data.data_dir", str(tmp)]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a copy that stopped


def _wrong_magic(raw: Path) -> None:
    data = (raw / "train-images-idx3-ubyte").read_bytes()
    (raw / "train-images-idx3-ubyte").write_bytes(b"\x1f\x8b\x08\x00" + data[4:])  # gzip bytes


def _csv(tmp: Path, text: str | bytes, *args: str, name: str = "table.csv") -> list[str]:
    path = tmp / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    model = ["--model", "Regressor", "--model.net", "MLPNet", "--checkpoint.monitor", "val/mse",
             "--checkpoint.mode", "min"]  # fmt: skip
    return [*model, "--data", "CSVDataModule", "--data.path", str(path), *args]


def _rows(header: str, n: int = 20, row=lambda i: f"{i},{i * 2},{i % 3}") -> str:
    return header + "\n" + "".join(row(i) + "\n" for i in range(n))


def _images(tmp: Path, classes: dict[str, int], split: str = "train") -> Path:
    for name, count in classes.items():
        folder = tmp / "images" / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("RGB", (8, 8), (30 * i, 0, 0)).save(folder / f"{i}.png")
    return tmp / "images"


def _folder(tmp: Path, *args: str) -> list[str]:
    return ["--data", "ImageFolderDataModule", "--data.data_dir", str(tmp / "images"),
            "--data.image_size", "8", "--data.num_workers", "0", *args]  # fmt: skip


def _torchvision_weights(tmp: Path, save: Callable[[Path], None]) -> list[str]:
    save(tmp / "weights.pth")
    return ["--model.net", "TorchvisionNet", "--model.net.name", "mobilenet_v3_small",
            "--model.net.weights", str(tmp / "weights.pth")]  # fmt: skip


def _cifar_truncated(tmp: Path) -> list[str]:
    from torchvision.datasets import CIFAR10

    make_cifar(tmp, CIFAR10, per_file=4)
    _truncate(tmp / "cifar-10-batches-py" / "data_batch_1")
    return ["--data", "CIFAR10DataModule", "--data.data_dir", str(tmp),
            "--data.verify_checksums", "false"]  # fmt: skip


def _cifar_labels(tmp: Path) -> list[str]:
    from torchvision.datasets import CIFAR10

    make_cifar(tmp, CIFAR10, per_file=4)
    path = tmp / "cifar-10-batches-py" / "data_batch_2"
    batch = pickle.loads(path.read_bytes())
    path.write_bytes(pickle.dumps({**batch, "labels": [10] * len(batch["labels"])}))
    return ["--data", "CIFAR10DataModule", "--data.data_dir", str(tmp),
            "--data.verify_checksums", "false"]  # fmt: skip


HEADER = "x1,x2,y"
# (id, writes the broken input into a tmp folder and returns the CLI arguments, words the one
# line must contain: the file or option, and the fix; raised after the run directory exists?)
CASES = [
    ("mnist images truncated",
     lambda t: _mnist(t, lambda raw: _truncate(raw / "train-images-idx3-ubyte")),
     ["train-images-idx3-ubyte is truncated", "replace the file"]),
    ("mnist labels truncated",
     lambda t: _mnist(t, lambda raw: _truncate(raw / "t10k-labels-idx1-ubyte")),
     ["t10k-labels-idx1-ubyte is truncated", "replace the file"]),
    ("mnist wrong magic number", lambda t: _mnist(t, _wrong_magic),
     ["train-images-idx3-ubyte is not an idx file", "1f8b0800", "replace the file"]),
    ("mnist labels of another set",
     lambda t: _mnist(t, lambda raw: write_idx(raw / "train-labels-idx1-ubyte", np.zeros(60))),
     ["holds 64 images but", "60 labels", "replace the file"]),
    ("mnist label past the classes",
     lambda t: _mnist(t, lambda raw: write_idx(raw / "t10k-labels-idx1-ubyte", np.full(16, 12))),
     ["t10k-labels-idx1-ubyte has label 12", "10 classes", "replace the file"]),
    ("cifar batch truncated", _cifar_truncated,
     ["data_batch_1 is not a readable CIFAR batch", "replace it"]),
    ("cifar label past the classes", _cifar_labels,
     ["data_batch_2 has label 10", "replace it"]),
    ("csv empty", lambda t: _csv(t, "", "--data.targets", "[y]"),
     ["table.csv is empty", "header row"]),
    ("csv header only", lambda t: _csv(t, HEADER + "\n", "--data.targets", "[y]"),
     ["table.csv has a header but no rows"]),
    ("csv short row", lambda t: _csv(t, _rows(HEADER) + "7,8\n", "--data.targets", "[y]"),
     ["table.csv line 22 has 2 fields", "fix that row"]),
    ("csv not utf-8", lambda t: _csv(t, _rows("x1,x2,y,städt").encode("latin-1"),
                                     "--data.targets", "[y]"),
     ["table.csv is not UTF-8", "save it as UTF-8"]),
    ("csv nan feature", lambda t: _csv(t, _rows(HEADER) + "nan,3,1\n", "--data.targets", "[y]"),
     ["table.csv line 22, column x1 is 'nan'", "fill in or drop"]),
    ("csv infinite target", lambda t: _csv(t, _rows(HEADER) + "1,3,inf\n", "--data.targets",
                                           "[y]"),
     ["table.csv line 22, column y is 'inf'", "fill in or drop"]),
    ("csv blank feature", lambda t: _csv(t, _rows(HEADER) + "1,,2\n", "--data.targets", "[y]"),
     ["table.csv line 22, column x2: '' is not a number", "must be numeric"]),
    ("csv text target without multiclass",
     lambda t: _csv(t, _rows(HEADER, row=lambda i: f"{i},{i},{'ab'[i % 2]}"),
                    "--data.targets", "[y]"),
     ["column y: 'a' is not a number", "--data.task multiclass"]),
    ("csv column named twice", lambda t: _csv(t, _rows("x1,x1,y"), "--data.targets", "[y]"),
     ["table.csv names columns ['x1'] twice", "rename"]),
    ("csv target among the features",
     lambda t: _csv(t, _rows(HEADER), "--data.targets", "[y]", "--data.features", "[x1, y]"),
     ["['y'] are both features and targets", "--data.features"]),
    ("csv one class",
     lambda t: _csv(t, _rows(HEADER, row=lambda i: f"{i},{i},cat"), "--data.targets", "[y]",
                    "--data.task", "multiclass", "--model", "ImageClassifier"),
     ["column y holds one class ('cat')", "--data.targets"]),
    ("csv multilabel not 0/1",
     lambda t: _csv(t, _rows(HEADER), "--data.targets", "[y]", "--data.task", "multilabel",
                    "--model", "MultiLabelClassifier"),
     ["table.csv line 4, column y is '2', not 0 or 1", "fill in or drop"]),
    ("csv test file without a column",
     lambda t: _csv(t, "x1,y\n1,2\n", name="test.csv") and
     _csv(t, _rows(HEADER), "--data.targets", "[y]", "--data.test_path", str(t / "test.csv")),
     ["test.csv has no column(s) ['x2']", "its columns are"]),
    ("csv test class the training file lacks",
     lambda t: _csv(t, "x1,x2,y\n1,2,dog\n", name="test.csv") and
     _csv(t, _rows(HEADER), "--data.targets", "[y]", "--data.task", "multiclass",
          "--model", "ImageClassifier", "--data.test_path", str(t / "test.csv")),
     ["test.csv: classes ['dog'] are not in", "add examples"]),
    ("csv splits leave no training rows",
     lambda t: _csv(t, _rows(HEADER, n=3), "--data.targets", "[y]", "--data.test_split", "0.5",
                    "--data.val_split", "0.5"),
     ["--data.test_split 0.5 and --data.val_split 0.5 leave none of the 3 rows", "lower them"]),
    ("csv with the default cnn",
     lambda t: _csv(t, _rows(HEADER), "--data.targets", "[y]", "--data.task", "multiclass",
                    "--model", "ImageClassifier", "--model.net", "SmallCNN"),
     ["SmallCNN takes images", "(2,)", "--model.net MLPNet"]),
    ("csv regression with a classifier",
     lambda t: _csv(t, _rows(HEADER), "--data.targets", "[y]", "--model", "ImageClassifier"),
     ["ImageClassifier needs two or more classes", "--model Regressor"]),
    ("csv classes with a regressor",
     lambda t: _csv(t, _rows(HEADER), "--data.targets", "[y]", "--data.task", "multiclass"),
     ["Regressor learns regression targets but CSVDataModule gives multiclass",
      "--model ImageClassifier"]),
    ("images with a regressor", lambda t: ["--model", "Regressor", "--model.net", "MLPNet"],
     ["Regressor learns regression targets but DigitsDataModule", "--model ImageClassifier"]),
    ("image folder with one class",
     lambda t: _images(t, {"cat": 4}) and _folder(t),
     ["train/ has class folders ['cat']", "two or more"]),
    ("image folder with an empty class",
     lambda t: _images(t, {"cat": 4, "dog": 0}) and _folder(t),
     ["train/dog/ has no readable images", "add images or remove the folder"]),
    ("val class that train lacks",
     lambda t: _images(t, {"cat": 4, "dog": 4}) and _images(t, {"cat": 1, "zebra": 1}, "val")
     and _folder(t),
     ["val/ has class folders ['zebra']", "add training images or remove them"]),
    ("image folder splits leave no training images",
     lambda t: _images(t, {"cat": 2, "dog": 2}) and _folder(t, "--data.test_split", "0.9",
                                                            "--data.val_split", "0.9"),
     ["leave none of the 4 images for training", "lower them"]),
    ("image folder mean of the wrong length",
     lambda t: _images(t, {"cat": 2, "dog": 2}) and _folder(t, "--data.mean", "[0.5, 0.5]",
                                                            "--data.std", "[0.2, 0.2]"),
     ["--data.mean [0.5, 0.5]", "one value per channel"]),
    ("dropout above 1", lambda t: ["--model.net.dropout", "1.5"],
     ["model.net.dropout", "v<1"]),
    ("dropout 1 trains nothing", lambda t: ["--model.net.dropout", "1"],
     ["model.net.dropout", "v<1"]),
    ("label smoothing 1", lambda t: ["--model.label_smoothing", "1"],
     ["model.label_smoothing", "v<1"]),
    ("hidden layer of width 0", lambda t: ["--model.net", "MLPNet", "--model.net.hidden_dims",
                                           "[0]"],
     ["model.net.hidden_dims", "v>0"]),
    ("negative crop padding", lambda t: ["--data.crop_padding", "-1"],
     ["data.crop_padding", "v>=0"]),
    ("negative workers", lambda t: ["--data.num_workers", "-1"],
     ["data.num_workers", "v>=0"]),
    ("resnet stages mismatched", lambda t: ["--model.net", "CifarResNet", "--model.net.blocks",
                                            "[1, 1]"],
     ["--model.net.blocks [1, 1] and --model.net.widths", "same length"]),
    ("pretrained weights truncated",
     lambda t: _torchvision_weights(t, lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 64)),
     ["weights.pth is truncated or corrupt", "--model.net.init_args.weights"]),
    ("pretrained weights of another model",
     lambda t: _torchvision_weights(t, lambda p: torch.save({"fc.weight": torch.zeros(2, 2)}, p)),
     ["does not hold mobilenet_v3_small weights", "--model.net.init_args.weights"]),
    ("pretrained weights as a pickled module",
     lambda t: _torchvision_weights(t, lambda p: torch.save(torch.nn.Linear(2, 2), p)),
     ["weights.pth holds more than tensors", "state_dict() alone"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "expected"),
    [pytest.param(c[1], c[2], id=c[0]) for c in CASES],
)
def test_a_broken_input_costs_one_clear_line(
    make, expected, earlier_run, tmp_path, capsys, monkeypatch
):
    def offline(*_, **__):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket.socket, "connect", offline)  # nothing may be downloaded
    args = make(tmp_path)
    root = earlier_run.parent.parent
    before = fingerprint(root)
    capsys.readouterr()

    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *FAST, "--run.root", str(root), *args])

    assert exit_info.value.code == 2
    assert_one_error_line(capsys.readouterr().err, expected)
    after = fingerprint(root)
    assert after == before  # earlier runs untouched, and no run directory left behind
