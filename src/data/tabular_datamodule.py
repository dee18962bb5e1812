from typing import Literal

import torch
from jsonargparse.typing import OpenUnitInterval, PositiveInt
from torch import Tensor

from src.data.in_memory import InMemoryLoader
from src.data.normalize import Normalize
from src.data.split_datamodule import SplitDataModule
from src.data.splits import check_split_options, seeded_split

Task = Literal["regression", "multiclass", "multilabel"]


class TabularDataModule(SplitDataModule):
    """Base for tables of numeric features: seeded splits, standardisation fitted on train only.

    Subclasses implement `load_names()` and `load()` (the features (N, F) and the targets, see
    `task`). A seeded `test_split` (unless `load_test()` gives a test table) and `val_split` of
    the rows are held out. Feature means and standard deviations come from the training rows
    alone, so nothing about the held-out rows leaks into training; regression targets are
    standardised the same way. `rows[split]` are the source row numbers of each split's rows.

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
        split_seed: Seed of the held-out splits, independent of the training seed.
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
        check_split_options(batch_size, val_split=val_split, test_split=test_split)
        self.task = task
        self.batch_size, self.val_split, self.test_split = batch_size, val_split, test_split
        self.split_seed, self.standardize_targets = split_seed, standardize_targets
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}
        self.rows: dict[str, Tensor] = {}
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
        test = self.load_test()
        fractions = {"val": self.val_split}
        if test is None:
            fractions = {"test": self.test_split, **fractions}
        self.rows = seeded_split(len(x), fractions, self.split_seed, "rows")
        if test is not None:
            self.rows["test"] = torch.arange(len(test[0]))
        train = self.rows["train"]
        self.normalize = Normalize(*_mean_std(x[train]), image=False)
        regression = self.task == "regression" and self.standardize_targets
        self.target_scale = Normalize(*_mean_std(y[train]), image=False) if regression else None
        for split, rows in self.rows.items():
            xs, ys = test if test is not None and split == "test" else (x, y)
            xs, ys = self.normalize(xs[rows]), ys[rows]
            self.splits[split] = (xs, self.target_scale(ys) if self.target_scale else ys)
        self.splits["predict"], self.rows["predict"] = self.splits["test"], self.rows["test"]

    def split_size(self, split: str) -> int:
        return len(self.rows[split])

    @property
    def predict_ids(self) -> dict[str, list]:
        """Each predicted row's number in its source table (0-based, header not counted)."""
        return {"row": self.rows["predict"].tolist()}

    def unscale_targets(self, preds: Tensor) -> Tensor:
        """Regression predictions back in the target's own units."""
        return preds if self.target_scale is None else self.target_scale.inverse(preds)

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
    std = values.std(dim=0) if len(values) > 1 else torch.ones_like(values[0])
    return values.mean(dim=0), torch.where(std > 0, std, torch.ones_like(std))  # constant columns
