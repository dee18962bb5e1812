"""Decoded datasets cached on disk: the first run decodes, every later run (and rank) loads."""

import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from src.files import replaced_atomically

# Bump when what `load` returns changes, so old caches are not read as new ones.
FORMAT_VERSION = 1


def load_or_decode(
    path: Path, decode: Callable[[], tuple[Tensor, Tensor]]
) -> tuple[Tensor, Tensor]:
    """(images, labels) from the cache file at `path`, or from `decode()`, then saved there.

    The file is written to a temporary name and renamed into place, so DDP ranks or parallel runs
    that decode at the same time never read a half-written cache. A folder that cannot be written
    (a read-only dataset mount) only costs the cache, not the run. A cache file that cannot be
    read back (truncated by a full disk, or by a copy that stopped) is decoded again and
    replaced, with one warning.
    """
    if path.is_file():
        try:
            cached = torch.load(path, weights_only=True)
            images, labels = cached["images"], cached["labels"]
            if (
                isinstance(images, Tensor)
                and isinstance(labels, Tensor)
                and len(images) == len(labels)
            ):
                return images, labels
            reason = "not the images and labels it should hold"
        except Exception as error:  # torch's many ways of reporting a torn zip or a non-pickle
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        warnings.warn(f"decode cache {path} is unreadable ({reason}): decoding again", stacklevel=2)
    images, labels = decode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replaced_atomically(path) as tmp:
            torch.save({"images": images.contiguous(), "labels": labels.contiguous()}, tmp)
    except OSError:
        pass
    return images, labels
