"""The one seeded train/validation/test split every datamodule uses."""

import warnings

import torch
from torch import Tensor

from src.errors import UsageError


def seeded_split(
    n: int, fractions: dict[str, float], seed: int, what: str = "samples"
) -> dict[str, Tensor]:
    """Indices into `n` items for each held-out split in `fractions` and for "train", the rest.

    One permutation of `range(n)` is drawn from `seed`, independent of the training seed, so the
    splits are the same on every run and rank. The held-out splits are taken from its front in
    the order given, each its fraction (rounded, at least one) of the items left by the splits
    before it. A split that leaves no training items is an error; one that leaves less than half
    of them for training is legal but rarely meant, and says so in one warning.
    """
    options = " and ".join(f"--data.{name}_split {f}" for name, f in fractions.items())
    leave, it = ("leaves", "it") if len(fractions) == 1 else ("leave", "them")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    splits = {}
    for name, fraction in fractions.items():
        count = max(1, round(len(order) * fraction))
        splits[name], order = order[:count], order[count:]
    if len(order) == 0:
        raise UsageError(f"{options} {leave} none of the {n} {what} for training: lower {it}")
    if len(order) < n / 2:
        warnings.warn(
            f"{options} {leave} {len(order)} of {n} {what} for training: "
            f"lower {it} unless you mean to train on so few",
            stacklevel=3,
        )
    splits["train"] = order
    return splits


def check_split_options(batch_size: int = 1, num_workers: int = 0, **fractions: float) -> None:
    """What the CLI's argument types refuse, refused for datamodules built in Python too."""
    if batch_size <= 0:
        raise UsageError(f"--data.batch_size must be positive, got {batch_size}")
    if num_workers < 0:
        raise UsageError(f"--data.num_workers must be 0 or more, got {num_workers}")
    for name, fraction in fractions.items():
        if not 0 < fraction < 1:
            raise UsageError(f"--data.{name} must be between 0 and 1 (exclusive), got {fraction}")
