import csv
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger


class AppendingCSVLogger(CSVLogger):
    """`CSVLogger` that continues an existing `metrics.csv` instead of deleting it.

    Lightning's writer removes the file it finds; a resumed run (`--run.resume`) must keep the
    rows logged before the interruption, so they are read first and written back.
    """

    @property
    def experiment(self):
        if self._experiment is not None:
            return self._experiment
        path = Path(self.log_dir) / "metrics.csv"
        rows, header = [], []
        if path.is_file():
            with path.open(newline="") as f:
                reader = csv.DictReader(f)
                rows, header = list(reader), list(reader.fieldnames or [])
        writer = super().experiment  # deletes metrics.csv
        if header:
            writer.metrics_keys = header
            with path.open("w", newline="") as f:
                out = csv.DictWriter(f, fieldnames=header)
                out.writeheader()
                out.writerows(rows)
        return writer
