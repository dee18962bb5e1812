from typing import Literal

import torch
from jsonargparse.typing import OpenUnitInterval, PositiveInt
from torch import Tensor

from src.data.in_memory import InMemoryLoader
from src.data.split_datamodule import SplitDataModule
from src.errors import UsageError

Task = Literal["regression", "multiclass", "multilabel"]


class TabularDataModule(SplitDataModule):
    """Base for tables of numeric features: seeded splits, standardisation fitted on train only.

    Subclasses implement `load()` returning the features (N, F), the targets (see `task`) and
    the names of the features and targets. Rows are shuffled once with `split_seed`, then a
    test and a validation fraction are held out (unless `load_test()` gives a test table).
    Feature means and standard deviations come from the training rows alone, so nothing about
    the held-out rows leaks into training; regression targets are standardised the same way.

    For the nets, `input_shape` is `(F,)` and `num_classes` is the width of the net's output:
    the number of classes (multiclass), labels (multilabel, one for binary) or targets
    (regression).

    Args:
        task: What the targets are: continuous values (`Regressor`), one class per row
            (`ImageClassifier`'s loss and metrics, any net), or 0/1 columns, one per label
            (`MultiLabelClassifier`; a single column is binary classification).
        batch_size: Rows per batch.
        val_split: Fraction of the training rows held out for validation.
        test_split: Fraction of all rows held out for testing (when there is no test table).
        split_seed: Seed of the splits, independent of the training seed.
        standardize_targets: Standardise regression targets with the training rows' statistics
            (metrics are then in standard deviations of the target).
    """

    def __init__(
        self,
        task: Task = "regression",
        batch_size: PositiveInt = 64,
        val_split: OpenUnitInterval = 0.1,
        test_split: OpenUnitInterval = 0.2,
        split_seed: int = 42,
        standardize_targets: bool = True,
    ):
        super().__init__()
        self.task = task
        self.batch_size, self.val_split, self.test_split = batch_size, val_split, test_split
        self.split_seed, self.standardize_targets = split_seed, standardize_targets
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}
        self.features, self.targets = self.load_names()

    def load_names(self) -> tuple[list[str], list[str]]:
        """Names of the feature columns and target columns, known before the rows are read."""
        raise NotImplementedError

    def load(self) -> tuple[Tensor, Tensor]:
        """All rows: features float (N, F), targets float (N, T) or int64 class ids (N,)."""
        raise NotImplementedError

    def load_test(self) -> tuple[Tensor, Tensor] | None:
        """A separate test table, if the dataset has one."""
        return None

    @property
    def input_shape(self) -> tuple[int]:
        return (len(self.features),)

    @property
    def num_classes(self) -> int:
        return len(self.classes) if self.task == "multiclass" else len(self.targets)

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names (multiclass), label names (multilabel) or target names (regression)."""
        return tuple(self.targets)

    def setup(self, stage: str) -> None:
        if self.splits:
            return
        x, y = self.load()
        generator = torch.Generator().manual_seed(self.split_seed)
        order = torch.randperm(len(x), generator=generator)
        test = self.load_test()
        if test is None:
            n_test = max(1, round(len(x) * self.test_split))
            test, order = (x[order[:n_test]], y[order[:n_test]]), order[n_test:]
        n_val = max(1, round(len(order) * self.val_split))
        val, train = order[:n_val], order[n_val:]
        if len(train) == 0:
            raise UsageError(f"{len(x)} rows leave none for training; lower the split fractions")
        self.x_mean, self.x_std = _mean_std(x[train])
        if self.task == "regression" and self.standardize_targets:
            self.y_mean, self.y_std = _mean_std(y[train])
        else:
            self.y_mean, self.y_std = 0.0, 1.0
        self.splits = {
            split: self._scaled(*rows)
            for split, rows in (("train", (x[train], y[train])), ("val", (x[val], y[val])))
        }
        self.splits["test"] = self.splits["predict"] = self._scaled(*test)

    def _scaled(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if self.task == "multiclass":
            return (x - self.x_mean) / self.x_std, y
        return (x - self.x_mean) / self.x_std, (y - self.y_mean) / self.y_std

    def unscale_targets(self, preds: Tensor) -> Tensor:
        """Regression predictions back in the target's own units."""
        return preds * self.y_std + self.y_mean

    def _loader(self, split: str) -> InMemoryLoader:
        x, y = self.splits[split]
        train, trainer = split == "train", self.trainer
        return InMemoryLoader(
            x,
            y,
            self.batch_size,
            shuffle=train,
            drop_last=train and len(y) > self.batch_size,
            seed=torch.initial_seed(),
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
        )


def _mean_std(values: Tensor) -> tuple[Tensor, Tensor]:
    std = values.std(dim=0)
    return values.mean(dim=0), torch.where(std > 0, std, torch.ones_like(std))  # constant columns
