"""The reference: a hand-written PyTorch loop over in-memory tensors, no Lightning.

Same data (the datamodule's decoded tensors and split), net, batch size, optimizer, LR schedule
and batched augmentation as `python -m src fit --config configs/mnist.yaml`; writes the same
JSON as `step_timer.py` to `$BENCH_TIMER_OUT`.

    python -m benchmarks.raw_loop --net cnn --epochs 3 --batches 100
"""

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F

from src.data import MNISTDataModule
from src.data.augment import random_crop
from src.nets import MLPNet, SmallCNN
from src.optim import WarmupCosine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--net", choices=["cnn", "linear"], default="cnn")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=100, help="training batches per epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="the GPU when there is one, as Lightning's `auto`")  # fmt: skip
    args = parser.parse_args()
    start = time.time()

    torch.manual_seed(42)
    dm = MNISTDataModule(data_dir=args.data_dir)
    dm.setup("fit")
    images, labels = (t.to(args.device) for t in dm.splits["train"])
    mean, std = dm.mean[0] * 255, dm.std[0] * 255
    # configs/mnist.yaml's net, or a single Linear 784 -> 10 for the per-step overhead
    net = SmallCNN(channels=[16, 32, 64]) if args.net == "cnn" else MLPNet(hidden_dims=[])
    net = net.to(args.device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr)
    scheduler = WarmupCosine(optimizer, total_steps=args.epochs * args.batches)

    first_step_at, epochs = None, []
    net.train()
    for epoch in range(args.epochs):
        t0, cpu0 = time.perf_counter(), time.process_time()
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(42 + epoch))
        order = order.to(args.device)
        for i in range(args.batches):
            first_step_at = first_step_at or time.time()
            idx = order[i * args.batch_size : (i + 1) * args.batch_size]
            x = (images[idx].float() - mean) / std
            if args.augment:
                x = random_crop(x, dm.hparams.crop_padding)
            loss = F.cross_entropy(net(x), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()  # the clock stops when the GPU's work does
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
        epochs.append({"seconds": seconds, "cpu_seconds": cpu_seconds, "steps": args.batches,
                       "samples": args.batches * args.batch_size})  # fmt: skip
    with open(os.environ["BENCH_TIMER_OUT"], "w") as f:
        json.dump({"first_step_at": first_step_at, "started_at": start, "epochs": epochs}, f)


if __name__ == "__main__":
    main()
