from pathlib import Path

import torch
from torch import Tensor

from src.data.csv_table import CSVTable
from src.data.tabular_datamodule import TabularDataModule
from src.errors import UsageError


class CSVDataModule(TabularDataModule):
    """A CSV file (UTF-8) with a header row: feature and target columns chosen by name.

    Feature columns must hold finite numbers. A multiclass target may hold any values (names or
    numbers); its sorted distinct values become the class names. Multilabel targets are 0/1.
    Every row is checked when the file is read, so a short row, a blank or NaN value or text in
    a number column stops the run with its line number instead of surfacing as a NaN loss.

    Args:
        path: The CSV file.
        targets: Target column names (one for regression of one value or for multiclass).
        features: Feature column names; null takes every column that is not a target.
        test_path: A CSV file with the same columns used as the test split (instead of holding
            out `test_split` of `path`).
        **kwargs: See `TabularDataModule` (task, batch size, splits).
    """

    def __init__(
        self,
        path: str | Path,
        targets: list[str],
        features: list[str] | None = None,
        test_path: str | Path | None = None,
        **kwargs,
    ):
        self.path, self.test_path = Path(path), test_path and Path(test_path)
        self._targets, self._features = list(targets), features
        self._tables: dict[Path, CSVTable] = {}
        super().__init__(**kwargs)
        if self.task == "multiclass" and len(self.targets) != 1:
            raise UsageError(f"a multiclass target is one column, got --data.targets {targets}")

    def _read(self, path: Path) -> CSVTable:
        if path not in self._tables:
            self._tables[path] = CSVTable(path)
        return self._tables[path]

    def load_names(self) -> tuple[list[str], list[str]]:
        features = self._features or [
            c for c in self._read(self.path).header if c not in self._targets
        ]
        both = sorted(set(features) & set(self._targets))
        if both:
            raise UsageError(
                f"{both} are both features and targets (the model would see the answer): "
                "take them out of --data.features"
            )
        for path in (self.path, self.test_path):
            if path is not None:
                self._read(path).check_columns(self._targets + features)
        return features, self._targets

    @property
    def classes(self) -> tuple[str, ...]:
        if self.task != "multiclass":
            return tuple(self.targets)
        classes = tuple(sorted(set(self._read(self.path).column(self.targets[0]))))
        if len(classes) < 2:
            raise UsageError(
                f"{self.path} column {self.targets[0]} holds one class ({classes[0]!r}): a "
                "classifier needs two or more; pick another --data.targets or --data.task"
            )
        return classes

    def _table(self, path: Path) -> tuple[Tensor, Tensor]:
        table = self._read(path)
        x = table.numbers(self.features)
        if self.task == "regression":
            return x, table.numbers(self.targets)
        if self.task == "multilabel":
            return x, table.numbers(self.targets, allowed={0.0, 1.0})
        index = {name: i for i, name in enumerate(self.classes)}
        labels = table.column(self.targets[0])
        unknown = sorted(set(labels) - index.keys())
        if unknown:
            raise UsageError(
                f"{path}: classes {unknown} are not in {self.path}, so the model cannot learn "
                f"them; remove those rows or add examples of them to {self.path}"
            )
        return x, torch.tensor([index[label] for label in labels])

    def load(self) -> tuple[Tensor, Tensor]:
        return self._table(self.path)

    def load_test(self) -> tuple[Tensor, Tensor] | None:
        return None if self.test_path is None else self._table(self.test_path)
