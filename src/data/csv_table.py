import csv
import math
from pathlib import Path

import torch
from torch import Tensor

from src.errors import UsageError


class CSVTable:
    """A CSV file's header and rows, each row checked to have one field per column."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_file():
            raise UsageError(f"CSV file {path} does not exist; set --data.path")
        try:
            with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: Excel's "CSV UTF-8"
                reader = csv.reader(f)
                lines = [(reader.line_num, row) for row in reader if row]
        except UnicodeDecodeError as error:
            raise UsageError(
                f"{path} is not UTF-8 text (byte {error.object[error.start]:#x} at offset "
                f"{error.start}): save it as UTF-8 (in Excel: CSV UTF-8)"
            ) from None
        except csv.Error as error:
            raise UsageError(f"{path} is not a readable CSV file ({error}): fix it") from None
        if not lines:
            raise UsageError(
                f"{path} is empty: it needs a header row naming the columns, then rows"
            )
        (_, self.header), *self.rows = lines
        duplicates = sorted({c for c in self.header if self.header.count(c) > 1})
        if duplicates:
            raise UsageError(f"{path} names columns {duplicates} twice: rename one of each")
        if not self.rows:
            raise UsageError(f"{path} has a header but no rows of data")
        for line, row in self.rows:
            if len(row) != len(self.header):
                raise UsageError(
                    f"{path} line {line} has {len(row)} fields where the header has "
                    f"{len(self.header)}: fix that row (a missing or extra comma?)"
                )

    def check_columns(self, columns: list[str]) -> None:
        missing = [c for c in columns if c not in self.header]
        if missing:
            raise UsageError(
                f"{self.path} has no column(s) {missing}; its columns are {self.header}"
            )

    def column(self, name: str) -> list[str]:
        i = self.header.index(name)
        for line, row in self.rows:
            if not row[i].strip():
                raise UsageError(
                    f"{self.path} line {line} has no value in column {name}: fill it in"
                )
        return [row[i] for _, row in self.rows]

    def numbers(self, columns: list[str], allowed: set[float] | None = None) -> Tensor:
        """The columns as floats (N, len(columns)): finite, and in `allowed` if given."""
        indices = [(c, self.header.index(c)) for c in columns]
        values = []
        for line, row in self.rows:
            numbers = []
            for column, i in indices:
                try:
                    number = float(row[i])
                except ValueError:
                    raise UsageError(
                        f"{self.path} line {line}, column {column}: {row[i]!r} is not a number; "
                        f"columns {columns} must be numeric (a text target needs "
                        "--data.task multiclass; drop a text feature from --data.features)"
                    ) from None
                if not math.isfinite(number) or (allowed is not None and number not in allowed):
                    raise UsageError(
                        f"{self.path} line {line}, column {column} is {row[i]!r}, not "
                        f"{'0 or 1' if allowed else 'a finite number'}: fill in or drop that row"
                    )
                numbers.append(number)
            values.append(numbers)
        return torch.tensor(values, dtype=torch.float32)  # (N, len(columns))
