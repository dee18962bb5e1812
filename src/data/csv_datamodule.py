import csv
from pathlib import Path

import torch
from torch import Tensor

from src.data.tabular_datamodule import TabularDataModule
from src.errors import UsageError


class CSVDataModule(TabularDataModule):
    """A CSV file with a header row: feature and target columns chosen by name.

    Feature columns must be numeric. A multiclass target may hold any values (names or
    numbers); its sorted distinct values become the class names. Multilabel targets are 0/1.

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
        path: str,
        targets: list[str],
        features: list[str] | None = None,
        test_path: str | None = None,
        **kwargs,
    ):
        self.path, self.test_path = Path(path), test_path
        self._targets, self._features = list(targets), features
        super().__init__(**kwargs)
        if self.task == "multiclass" and len(self.targets) != 1:
            raise UsageError(f"a multiclass target is one column, got data.targets {targets}")

    def load_names(self) -> tuple[list[str], list[str]]:
        header = _read(self.path)[0]
        missing = [c for c in self._targets + (self._features or []) if c not in header]
        if missing:
            raise UsageError(f"{self.path} has no column(s) {missing}; its columns are {header}")
        features = self._features or [c for c in header if c not in self._targets]
        return features, self._targets

    @property
    def classes(self) -> tuple[str, ...]:
        if self.task != "multiclass":
            return tuple(self.targets)
        column = _read(self.path)[0].index(self.targets[0])
        return tuple(sorted({row[column] for row in _read(self.path)[1:]}))

    def _table(self, path: Path) -> tuple[Tensor, Tensor]:
        header, *rows = _read(path)
        x = _numeric(path, header, rows, self.features)
        if self.task == "multiclass":
            index = {name: i for i, name in enumerate(self.classes)}
            column = header.index(self.targets[0])
            unknown = {row[column] for row in rows} - index.keys()
            if unknown:
                raise UsageError(f"{path}: classes {sorted(unknown)} are not in {self.path}")
            return x, torch.tensor([index[row[column]] for row in rows])
        return x, _numeric(path, header, rows, self.targets)

    def load(self) -> tuple[Tensor, Tensor]:
        return self._table(self.path)

    def load_test(self) -> tuple[Tensor, Tensor] | None:
        return None if self.test_path is None else self._table(Path(self.test_path))


def _read(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise UsageError(f"CSV file {path} does not exist; set --data.path")
    with path.open(newline="") as f:
        return [row for row in csv.reader(f) if row]


def _numeric(path: Path, header: list[str], rows: list[list[str]], columns: list[str]) -> Tensor:
    indices = [header.index(c) for c in columns]
    try:
        return torch.tensor([[float(row[i]) for i in indices] for row in rows])  # (N, len(columns))
    except ValueError as error:
        raise UsageError(f"{path}: {error} in columns {columns}; they must be numeric") from None
