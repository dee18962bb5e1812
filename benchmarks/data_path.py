"""Loader-only throughput (samples/s) of one data path over MNIST's training split, as JSON.

    python -m benchmarks.data_path ours|plain|per_sample|torchvision [--batches 200]

`ours` is the default datamodule (in-memory loader plus its batched normalisation); `plain` a
hand-written permutation-and-slice loop over the same tensors; `per_sample` the datamodule with
`in_memory: false` (a DataLoader over single images); `torchvision` a template's usual
`datasets.MNIST` with `ToTensor` and `Normalize` per sample.
"""

import argparse
import json
import time

import torch


def batches(path: str, data_dir: str, batch_size: int):
    from src.data import MNISTDataModule

    if path == "torchvision":
        from torch.utils.data import DataLoader
        from torchvision import datasets, transforms

        normalize = transforms.Normalize((0.1307,), (0.3081,))
        transform = transforms.Compose([transforms.ToTensor(), normalize])
        dataset = datasets.MNIST(data_dir, train=True, transform=transform)
        yield from DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
        return
    dm = MNISTDataModule(data_dir=data_dir, batch_size=batch_size, in_memory=path != "per_sample")
    dm.setup("fit")
    if path == "plain":
        images, labels = dm.splits["train"]
        order = torch.randperm(len(labels))
        for i in range(len(labels) // batch_size):
            idx = order[i * batch_size : (i + 1) * batch_size]
            yield (images[idx].float() - 0.1307 * 255) / (0.3081 * 255), labels[idx]
        return
    for batch in dm.train_dataloader():
        yield dm.on_after_batch_transfer(batch, 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", choices=["ours", "plain", "per_sample", "torchvision"])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    it = batches(args.path, args.data_dir, args.batch_size)
    next(it)  # set-up and the first batch are not throughput
    start, samples = time.perf_counter(), 0
    for _, (_, y) in zip(range(args.batches), it, strict=False):
        samples += len(y)
    print(json.dumps({"samples_per_s": samples / (time.perf_counter() - start)}))


if __name__ == "__main__":
    main()
