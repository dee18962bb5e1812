"""Decoded datasets cached on disk: the first run decodes, every later run (and rank) loads."""

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

# Bump when what `load` returns changes, so old caches are not read as new ones.
FORMAT_VERSION = 1


def load_or_decode(
    path: Path, decode: Callable[[], tuple[Tensor, Tensor]]
) -> tuple[Tensor, Tensor]:
    """(images, labels) from the cache file at `path`, or from `decode()`, then saved there.

    The file is written to a temporary name and renamed into place, so DDP ranks or parallel runs
    that decode at the same time never read a half-written cache. A folder that cannot be written
    (a read-only dataset mount) only costs the cache, not the run.
    """
    if path.is_file():
        cached = torch.load(path, weights_only=True)
        return cached["images"], cached["labels"]
    images, labels = decode()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"images": images.contiguous(), "labels": labels.contiguous()}, tmp)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
    return images, labels
