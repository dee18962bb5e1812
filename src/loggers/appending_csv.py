import csv
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only


class AppendingCSVLogger(CSVLogger):
    """`CSVLogger` that continues an existing `metrics.csv` instead of deleting it.

    Lightning's writer removes the file it finds; a resumed run (`--run.resume`) must keep the
    rows logged before the interruption, so they are read first and written back. `rows` counts
    the rows in the file: checkpoints record it, and a resume keeps only the rows its checkpoint
    had seen (`keep_rows`): the steps after it are trained, and logged, again.
    """

    rows = 0

    @property
    def experiment(self):
        if self._experiment is not None:
            return self._experiment
        path = Path(self.log_dir) / "metrics.csv"
        rows, header = _read(path)
        writer = super().experiment  # deletes metrics.csv
        if header:
            writer.metrics_keys = header
            _write(path, header, rows)
        self.rows = len(rows)
        return writer

    @rank_zero_only
    def save(self) -> None:
        buffered = len(self.experiment.metrics)
        super().save()
        self.rows += buffered

    @rank_zero_only
    def keep_rows(self, rows: int) -> None:
        """Drop the rows after the first `rows`: logged after the resume's checkpoint."""
        self.save()
        path = Path(self.experiment.metrics_file_path)
        kept, header = _read(path)
        if len(kept) > rows:
            _write(path, header, kept[:rows])
            self.rows = rows


def _read(path: Path) -> tuple[list[dict], list[str]]:
    if not path.is_file():
        return [], []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader), list(reader.fieldnames or [])


def _write(path: Path, header: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=header)
        out.writeheader()
        out.writerows(rows)
