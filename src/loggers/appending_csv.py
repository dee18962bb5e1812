import csv
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only


class AppendingCSVLogger(CSVLogger):
    """`CSVLogger` that continues an existing `metrics.csv` instead of deleting it.

    Lightning's writer removes the file it finds; a resumed run (`--run.resume`) must keep the
    rows logged before the interruption, so they are read first and written back, except those a
    resume trains again (`drop_from_step`): each step stays in the file once.
    """

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
        return writer

    @rank_zero_only
    def drop_from_step(self, step: int) -> None:
        """Drop the rows of steps `step` and later: a resume from a checkpoint taken after `step`
        optimizer steps logs them again. Test results stay (they are not replayed)."""
        self.save()
        path = Path(self.experiment.metrics_file_path)
        rows, header = _read(path)
        kept = [row for row in rows if not _replayed(row, step)]
        if len(kept) < len(rows):
            _write(path, header, kept)


def _replayed(row: dict, step: int) -> bool:
    if not row.get("step") or int(row["step"]) < step:
        return False
    logged = [k for k, v in row.items() if v not in ("", None) and k not in ("epoch", "step")]
    return not all(k.startswith("test/") for k in logged)


def _read(path: Path) -> tuple[list[dict], list[str]]:
    if not path.is_file():
        return [], []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader), list(reader.fieldnames or [])


def _write(path: Path, header: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=header)
        out.writeheader()
        out.writerows(rows)
