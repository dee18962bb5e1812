"""The bar for time to accuracy: MNIST in a hand-written PyTorch loop, one process, nothing else.

In-memory tensors read straight from the idx files, a BatchNorm CNN (24 then 32 channels, a 5x5
first conv), AdamW with a one-cycle schedule, batch 128, one epoch, no validation, then the
10k test images. Prints one JSON line: test accuracy, training and whole-process seconds.

    python benchmarks/hand_loop.py --data-dir /path/to/datasets
"""

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def idx(path: Path) -> torch.Tensor:
    """An idx file (or its .gz) as a uint8 tensor of the shape its header gives."""
    if path.exists():
        data = path.read_bytes()
    else:
        with gzip.open(path.with_name(path.name + ".gz")) as f:
            data = f.read()
    shape = np.frombuffer(data, ">u4", data[3], offset=4)
    pixels = np.frombuffer(data, np.uint8, offset=4 + 4 * data[3]).reshape(shape)
    return torch.from_numpy(pixels.copy())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=0.01)
    args = parser.parse_args()
    raw = Path(args.data_dir) / "MNIST" / "raw"
    load = lambda split: (  # noqa: E731
        (idx(raw / f"{split}-images-idx3-ubyte").float().unsqueeze(1) / 255 - 0.1307) / 0.3081,
        idx(raw / f"{split}-labels-idx1-ubyte").long(),
    )
    (x, y), (x_test, y_test) = load("train"), load("t10k")
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 24, 5, padding=2), nn.BatchNorm2d(24), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(24, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
    )  # fmt: skip
    steps = int(args.epochs * len(y)) // 128
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=steps)
    start = time.perf_counter()
    order = torch.cat([torch.randperm(len(y)) for _ in range(int(np.ceil(args.epochs)))])
    for step in range(steps):
        batch = order[step * 128 : (step + 1) * 128]
        loss = F.cross_entropy(net(x[batch]), y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    trained = time.perf_counter() - start
    net.eval()
    with torch.no_grad():
        batches = zip(x_test.split(1000), y_test.split(1000), strict=True)
        correct = sum((net(xb).argmax(1) == yb).sum().item() for xb, yb in batches)
    print(json.dumps({"test_acc": correct / len(y_test), "train_seconds": round(trained, 2)}))


if __name__ == "__main__":
    main()
