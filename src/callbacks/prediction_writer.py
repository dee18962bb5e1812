import csv
from pathlib import Path

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter


class PredictionWriter(BasePredictionWriter):
    """Writes `predictions.csv` into the run directory after `predict`: one row per input.

    Columns: `index` (position in the predicted split), `label` (predicted class name),
    `confidence`, then one `prob/<class>` column per class. Under DDP each rank writes
    `predictions.rank<r>.csv` with its share of the rows.

    Args:
        filename: Name of the file written into the run directory.
    """

    def __init__(self, filename: str = "predictions.csv"):
        super().__init__(write_interval="epoch")
        self.filename = filename

    def write_on_epoch_end(
        self, trainer: Trainer, pl_module: LightningModule, predictions, batch_indices
    ) -> None:
        if not predictions:
            return
        probs = torch.cat([p["probs"] for p in predictions]).float().cpu()
        indices = [i for batch in batch_indices[0] for i in batch] if batch_indices else []
        if len(indices) != len(probs):  # loaders without a sampler: rows are in order
            indices = list(range(len(probs)))
        classes = getattr(trainer.datamodule, "classes", None) or range(probs.shape[1])
        path = Path(trainer.log_dir or ".") / self.filename
        if trainer.world_size > 1:
            path = path.with_suffix(f".rank{trainer.global_rank}.csv")
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["index", "label", "confidence", *(f"prob/{c}" for c in classes)])
            confidence, preds = probs.max(dim=1)
            rows = zip(indices, preds.tolist(), confidence.tolist(), probs.tolist(), strict=True)
            for i, p, c, row in rows:
                writer.writerow([i, list(classes)[p], f"{c:.6f}", *(f"{x:.6f}" for x in row)])
        self.path = path
